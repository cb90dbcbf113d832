#!/usr/bin/env bash
# What libnitric-plugin-testing.so costs a test binary (testing/CMakeLists.txt):
#   - its run-time dependencies are exactly the allowed set below: no gRPC
#     (nor anything gRPC brings: absl, re2, cares, ssl, ...);
#   - a test linked with it loads no gRPC library at all (ldd: the whole
#     closure);
#   - it exports nothing but the names of nitric/testing.hpp.
#   check_dependencies.sh LIBRARY TEST_BINARY
set -euo pipefail
lib=$1 test_binary=$2
fail=0

allowed='^(libprotobuf\.so\.[0-9]+|libspdlog\.so\.[0-9.]+|libfmt\.so\.[0-9]+|libtomlplusplus\.so\.[0-9]+|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libm\.so\.6|libc\.so\.6|ld-linux-x86-64\.so\.2)$'
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$lib needs:" $needed
for so in $needed; do
  if ! grep -Eq "$allowed" <<<"$so"; then
    echo "FAIL: $lib needs $so, which is not in the testing kit's dependency set" >&2
    fail=1
  fi
done

if ldd "$test_binary" | grep -Ei 'grpc|libabsl|libre2|libcares|libssl|libcrypto'; then
  echo "FAIL: $test_binary loads gRPC or one of its dependencies (above)" >&2
  fail=1
fi

# Every exported definition (the version node aside) is nitric::testing::...
exported=$(nm -DC --defined-only "$lib" | awk '$2 != "A"' | cut -d' ' -f3-)
others=$(grep -Ev '^nitric::testing::(Host|LoadedPlugin)::' <<<"$exported" || true)
if [ -n "$others" ]; then
  echo "FAIL: $lib exports names outside nitric/testing.hpp:" >&2
  echo "$others" | head -20 >&2
  fail=1
fi
if ! grep -q '^nitric::testing::Host::Message(' <<<"$exported"; then
  echo "FAIL: $lib does not export nitric::testing::Host::Message" >&2
  fail=1
fi
exit $fail
