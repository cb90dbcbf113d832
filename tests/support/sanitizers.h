// Whether the test runs in a sanitizer build (scripts/sanitize.sh), and the
// heap figure to measure growth with there.
//
// Resident memory is no leak measure under ASan or TSan: ASan keeps freed
// blocks in its quarantine (up to 256 MiB) so that a use after free is
// caught, and both map shadow memory as the program touches new addresses.
// Their allocator's count of bytes allocated and not yet freed is exact.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NITRIC_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NITRIC_TEST_UNDER_SANITIZER 1
#endif
#endif

#ifdef NITRIC_TEST_UNDER_SANITIZER
// From the sanitizer runtime (sanitizer/allocator_interface.h, which GCC
// does not install).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace nitric::testing {

#ifdef NITRIC_TEST_UNDER_SANITIZER
inline constexpr bool kUnderSanitizer = true;
// KiB allocated with malloc/new and not freed, as the sanitizer's allocator
// counts them (quarantined blocks are not counted).
inline long SanitizerHeapKiB() {
  return static_cast<long>(__sanitizer_get_current_allocated_bytes() / 1024);
}
#else
inline constexpr bool kUnderSanitizer = false;
inline long SanitizerHeapKiB() { return -1; }
#endif

}  // namespace nitric::testing
