#include "ws/trace_escape.hpp"

namespace wsgate::ws {

std::string trace_escape(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    static constexpr unsigned char kFirstPrintable = 0x20;
    static constexpr unsigned char kDelete = 0x7F;
    std::string out;
    out.reserve(bytes.size() + bytes.size() / 8);
    for (char ch : bytes) {
        auto b = static_cast<unsigned char>(ch);
        if (b == '\r') {
            out += "\u240D";  // ␍
        } else if (b == '\n') {
            out += "\u240A";  // ␊
        } else if (b < kFirstPrintable || b >= kDelete) {
            out += "\\x";
            out += kHex[b >> 4];
            out += kHex[b & 0xF];
        } else {
            out += ch;
        }
    }
    return out;
}

}  // namespace wsgate::ws
