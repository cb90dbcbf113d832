// SHA-256 (FIPS 180-4) of a byte string, as 64 lowercase hex digits.
//
// Why here and not ContentHash (SHA-1): a crash quarantine record names the
// exact plugin file by a collision-resistant digest that an operator can
// compare with `sha256sum`. Written from the standard's description; the
// unit tests check it against the standard's test vectors.
#pragma once

#include <string>
#include <string_view>

namespace nitric::host {

std::string Sha256Hex(std::string_view bytes);

}  // namespace nitric::host
