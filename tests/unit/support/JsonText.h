#pragma once

// Test helper: `text` as a JSON string literal (quotes, backslashes, newlines and tabs escaped),
// for embedding scripts and values in configuration texts.

#include <string>
#include <string_view>

namespace sluice::test {

inline std::string jsonString(std::string_view text)
{
    std::string out = "\"";
    for (char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default: out.push_back(c);
        }
    }
    return out + "\"";
}

}  // namespace sluice::test
