// How far apart two names are, for "did you mean" suggestions on unknown
// flags, configuration keys and namespace options.
#pragma once

#include <cstddef>
#include <string_view>

namespace wsgate::gateway {

// Levenshtein distance: insertions, deletions and substitutions of one byte.
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace wsgate::gateway
