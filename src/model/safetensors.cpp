// safetensors writer and checked reader; see safetensors.hpp.
#include "model/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "core/validate.hpp"

namespace kexue::model {

std::string json_quote(const std::string& s) {
    std::string out = "\"";
    for (const char ch : s) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c < 0x20) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
            out += buffer;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::vector<std::uint8_t> safetensors_write(const SafetensorsMetadata& metadata,
                                            const std::vector<SafetensorsTensor>& tensors) {
    std::string header = "{\"__metadata__\":{";
    for (std::size_t i = 0; i < metadata.size(); ++i) {
        header += (i ? "," : "") + json_quote(metadata[i].first) + ":" + json_quote(metadata[i].second);
    }
    header += "}";
    std::uint64_t offset = 0;
    for (const SafetensorsTensor& t : tensors) {
        std::uint64_t count = 1;
        std::string shape;
        for (std::uint64_t s : t.shape) {
            count *= s;
            shape += (shape.empty() ? "" : ",") + std::to_string(s);
        }
        header += "," + json_quote(t.name) + ":{\"dtype\":\"F32\",\"shape\":[" + shape + "],\"data_offsets\":[" +
                  std::to_string(offset) + "," + std::to_string(offset + 4 * count) + "]}";
        offset += 4 * count;
    }
    header += "}";
    while ((8 + header.size()) % 8 != 0) header += ' ';
    std::vector<std::uint8_t> out(8 + header.size() + offset);
    const std::uint64_t length = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(length >> (8 * i));
    std::memcpy(out.data() + 8, header.data(), header.size());
    std::uint8_t* data = out.data() + 8 + header.size();
    // Little-endian floats: the byte order of WASM and of the x86/ARM hosts the native build runs on.
    for (const SafetensorsTensor& t : tensors) {
        std::uint64_t count = 1;
        for (std::uint64_t s : t.shape) count *= s;
        if (count) std::memcpy(data, t.data, 4 * count);
        data += 4 * count;
    }
    return out;
}

namespace {

// The JSON values the header uses.
struct Json {
    enum Type { null, boolean, number, string, array, object } type = null;
    double number_value = 0;
    bool integer = false;
    std::string text;
    std::vector<Json> items;
    std::vector<std::pair<std::string, Json>> members;
};

class JsonParser {
public:
    JsonParser(const char* text, std::size_t size) : p_(text), begin_(text), end_(text + size) {}

    // false with `error` set at the first problem.
    bool parse(Json& out) {
        if (!value(out, 0)) return false;
        skip();
        if (p_ != end_) return fail("unexpected text after the header object");
        return true;
    }

    std::string error;

private:
    bool fail(const std::string& what) {
        error = what + " at header byte " + std::to_string(p_ - begin_);
        return false;
    }
    void skip() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }
    bool literal(const char* word, std::size_t length) {
        if (static_cast<std::size_t>(end_ - p_) < length || std::strncmp(p_, word, length) != 0) return fail("invalid literal");
        p_ += length;
        return true;
    }
    bool value(Json& out, int depth) {
        if (depth > 16) return fail("nesting too deep");
        skip();
        if (p_ >= end_) return fail("unexpected end of the header");
        switch (*p_) {
            case '{': return object(out, depth);
            case '[': return array(out, depth);
            case '"': out.type = Json::string; return string(out.text);
            case 't': out.type = Json::boolean; return literal("true", 4);
            case 'f': out.type = Json::boolean; return literal("false", 5);
            case 'n': out.type = Json::null; return literal("null", 4);
            default: return number(out);
        }
    }
    bool object(Json& out, int depth) {
        out.type = Json::object;
        ++p_;
        skip();
        if (p_ < end_ && *p_ == '}') {
            ++p_;
            return true;
        }
        for (;;) {
            skip();
            std::string key;
            if (p_ >= end_ || *p_ != '"') return fail("expected a string key");
            if (!string(key)) return false;
            for (const auto& m : out.members)
                if (m.first == key) return fail("duplicate key " + json_quote(key));
            skip();
            if (p_ >= end_ || *p_ != ':') return fail("expected ':'");
            ++p_;
            Json v;
            if (!value(v, depth + 1)) return false;
            out.members.emplace_back(std::move(key), std::move(v));
            skip();
            if (p_ < end_ && *p_ == ',') {
                ++p_;
                continue;
            }
            if (p_ < end_ && *p_ == '}') {
                ++p_;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }
    bool array(Json& out, int depth) {
        out.type = Json::array;
        ++p_;
        skip();
        if (p_ < end_ && *p_ == ']') {
            ++p_;
            return true;
        }
        for (;;) {
            Json v;
            if (!value(v, depth + 1)) return false;
            out.items.push_back(std::move(v));
            skip();
            if (p_ < end_ && *p_ == ',') {
                ++p_;
                continue;
            }
            if (p_ < end_ && *p_ == ']') {
                ++p_;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }
    bool string(std::string& out) {
        ++p_;
        while (p_ < end_ && *p_ != '"') {
            const unsigned char c = static_cast<unsigned char>(*p_);
            if (c < 0x20) return fail("control character in a string");
            if (c != '\\') {
                out += *p_++;
                continue;
            }
            if (++p_ >= end_) break;
            const char e = *p_++;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    if (end_ - p_ < 4) return fail("truncated \\u escape");
                    unsigned code = 0;
                    for (int i = 0; i < 4; ++i) {
                        const char h = *p_++;
                        code <<= 4;
                        if (h >= '0' && h <= '9') code |= unsigned(h - '0');
                        else if (h >= 'a' && h <= 'f') code |= unsigned(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F') code |= unsigned(h - 'A' + 10);
                        else return fail("invalid \\u escape");
                    }
                    // UTF-8 of the basic plane (names and metadata of this format are ASCII).
                    if (code < 0x80) out += static_cast<char>(code);
                    else if (code < 0x800) {
                        out += static_cast<char>(0xC0 | (code >> 6));
                        out += static_cast<char>(0x80 | (code & 0x3F));
                    } else {
                        out += static_cast<char>(0xE0 | (code >> 12));
                        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
                        out += static_cast<char>(0x80 | (code & 0x3F));
                    }
                    break;
                }
                default: return fail("invalid escape");
            }
        }
        if (p_ >= end_) return fail("unterminated string");
        ++p_;
        return true;
    }
    bool number(Json& out) {
        const char* start = p_;
        if (p_ < end_ && *p_ == '-') ++p_;
        bool integer = true;
        while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' || *p_ == '+' ||
                             *p_ == '-')) {
            if (*p_ == '.' || *p_ == 'e' || *p_ == 'E') integer = false;
            ++p_;
        }
        if (p_ == start) return fail("unexpected character");
        const std::string text(start, p_);
        char* parsed_end = nullptr;
        out.type = Json::number;
        out.number_value = std::strtod(text.c_str(), &parsed_end);
        if (parsed_end != text.c_str() + text.size()) {
            p_ = start;
            return fail("invalid number");
        }
        out.integer = integer;
        return true;
    }

    const char* p_;
    const char* begin_;
    const char* end_;
};

Error bytes_error(const std::string& text) { return range_error_text("bytes", "bytes: " + text); }

// A non-negative integer of the header (sizes and offsets are below 2^53 in any file that fits).
bool header_integer(const Json& v, std::uint64_t& out) {
    if (v.type != Json::number || !v.integer || v.number_value < 0 || v.number_value > 9007199254740991.0) return false;
    out = static_cast<std::uint64_t>(v.number_value);
    return true;
}

}  // namespace

Error safetensors_parse(const std::uint8_t* bytes, std::size_t size, SafetensorsFile& out) {
    if (size < 8) {
        return bytes_error("a safetensors file starts with an 8-byte header length, received " + js_number(std::uint64_t(size)) +
                           " bytes");
    }
    std::uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= std::uint64_t(bytes[i]) << (8 * i);
    if (length > size - 8) {
        return bytes_error("the header length " + js_number(length) + " runs past the end of the " +
                           js_number(std::uint64_t(size)) + " bytes (a truncated or not a safetensors file)");
    }
    if (length < 2) return bytes_error("the header is empty");
    JsonParser parser(reinterpret_cast<const char*>(bytes + 8), static_cast<std::size_t>(length));
    Json root;
    if (!parser.parse(root)) return bytes_error("the header is not valid JSON: " + parser.error);
    if (root.type != Json::object) return bytes_error("the header must be a JSON object");
    out = SafetensorsFile{};
    out.data = bytes + 8 + length;
    out.data_size = size - 8 - length;
    for (const auto& [name, value] : root.members) {
        if (name == "__metadata__") {
            if (value.type != Json::object) return bytes_error("__metadata__ must be an object of strings");
            for (const auto& [key, text] : value.members) {
                if (text.type != Json::string) return bytes_error("__metadata__." + key + " must be a string");
                out.metadata.emplace_back(key, text.text);
            }
            continue;
        }
        if (value.type != Json::object) return bytes_error("tensor " + json_quote(name) + " must be an object");
        SafetensorsEntry entry;
        entry.name = name;
        const Json* dtype = nullptr;
        const Json* shape = nullptr;
        const Json* offsets = nullptr;
        for (const auto& [key, field] : value.members) {
            if (key == "dtype") dtype = &field;
            else if (key == "shape") shape = &field;
            else if (key == "data_offsets") offsets = &field;
            else return bytes_error("tensor " + json_quote(name) + " has an unknown field " + json_quote(key));
        }
        if (!dtype || dtype->type != Json::string) return bytes_error("tensor " + json_quote(name) + " needs a string dtype");
        entry.dtype = dtype->text;
        if (entry.dtype != "F32") {
            return bytes_error("tensor " + json_quote(name) + " has dtype " + json_quote(entry.dtype) +
                               "; this reader takes F32 only");
        }
        if (!shape || shape->type != Json::array) return bytes_error("tensor " + json_quote(name) + " needs a shape array");
        std::uint64_t count = 1;
        for (const Json& s : shape->items) {
            std::uint64_t extent = 0;
            if (!header_integer(s, extent)) return bytes_error("tensor " + json_quote(name) + " has a shape entry that is not a non-negative integer");
            entry.shape.push_back(extent);
            count = checked_product({count, extent});
        }
        if (!offsets || offsets->type != Json::array || offsets->items.size() != 2 ||
            !header_integer(offsets->items[0], entry.begin) || !header_integer(offsets->items[1], entry.end) ||
            entry.begin > entry.end) {
            return bytes_error("tensor " + json_quote(name) + " needs data_offsets [begin, end] with begin ≤ end");
        }
        if (entry.end > out.data_size) {
            return bytes_error("tensor " + json_quote(name) + " ends at data byte " + js_number(entry.end) +
                               ", past the " + js_number(out.data_size) + " bytes of data (a truncated file?)");
        }
        if (entry.end - entry.begin != checked_product({count, 4})) {
            return bytes_error("tensor " + json_quote(name) + " has " + js_number(entry.end - entry.begin) +
                               " bytes of data for a shape of " + js_number(count) + " F32 values");
        }
        out.tensors.push_back(std::move(entry));
    }
    // The tensors tile the data without overlaps or gaps.
    std::vector<const SafetensorsEntry*> sorted;
    for (const SafetensorsEntry& e : out.tensors) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
        return a->begin < b->begin || (a->begin == b->begin && a->end < b->end);
    });
    std::uint64_t cursor = 0;
    for (const SafetensorsEntry* e : sorted) {
        if (e->begin != cursor) {
            return bytes_error("tensor " + json_quote(e->name) + (e->begin < cursor ? " overlaps another tensor" : " leaves a gap in the data"));
        }
        cursor = e->end;
    }
    if (cursor != out.data_size) {
        return bytes_error("the data has " + js_number(out.data_size - cursor) + " bytes that no tensor covers");
    }
    return {};
}

}  // namespace kexue::model
