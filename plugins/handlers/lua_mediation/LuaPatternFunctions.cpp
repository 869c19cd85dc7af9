#include "LuaPatternFunctions.h"

#include <cstddef>
#include <type_traits>

#include <lua.hpp>

#include "LuaPattern.h"

// Errors (script errors, the time limit) are raised with longjmp through these functions: they
// hold only plain data, and the memory a long pattern needs is a userdata on the Lua stack.

namespace sluice::plugins {

namespace {

using namespace lua_pattern;

// Patterns up to this length compile into the C stack; longer ones into a userdata.
constexpr std::size_t kInlinePattern = 40;

struct Caller {
    lua_State* L;
    const LuaPatternFunctions::Hooks* hooks;
};

void reportProgress(void* context)
{
    const auto* caller = static_cast<const Caller*>(context);
    caller->hooks->checkpoint(caller->L);
}

const LuaPatternFunctions::Hooks& hooksOf(lua_State* L, int upvalue)
{
    return *static_cast<const LuaPatternFunctions::Hooks*>(lua_touserdata(L, lua_upvalueindex(upvalue)));
}

// Lua 5.4's reading of a start position: negative counts from the end, 0 and anything before
// the start mean 1. The result is 0-based and may lie past the end.
std::size_t startPosition(lua_Integer position, std::size_t length)
{
    if (position > 0) {
        return static_cast<std::size_t>(position) - 1;
    }
    if (position == 0 || position < -static_cast<lua_Integer>(length)) {
        return 0;
    }
    return length - static_cast<std::size_t>(-position);
}

// Storage of one compiled pattern: on the C stack for short patterns, else a userdata laid out
// as Choice[choices], ByteSet[bitmaps], Item[items] (in that order for alignment).
static_assert(alignof(Choice) >= alignof(ByteSet) && alignof(ByteSet) >= alignof(Item));
static_assert(sizeof(Choice) % alignof(ByteSet) == 0 && sizeof(ByteSet) % alignof(Item) == 0);

std::size_t blockSize(const Sizes& sizes)
{
    return sizes.choices * sizeof(Choice) + sizes.bitmaps * sizeof(ByteSet) + sizes.items * sizeof(Item);
}

struct Layout {
    Choice* choices;
    ByteSet* bitmaps;
    Item* items;
};

Layout layoutOf(void* block, const Sizes& sizes)
{
    auto* choices = static_cast<Choice*>(block);
    auto* bitmaps = reinterpret_cast<ByteSet*>(choices + sizes.choices);
    return Layout{choices, bitmaps, reinterpret_cast<Item*>(bitmaps + sizes.bitmaps)};
}

// Raw storage: compile() constructs the items and bitmaps it writes, the matcher its choices, so
// nothing is initialised twice on every call.
struct Workspace {
    static constexpr Sizes kInline = sizesBound(kInlinePattern);
    alignas(Item) unsigned char items[kInline.items * sizeof(Item)];
    alignas(ByteSet) unsigned char bitmaps[kInline.bitmaps * sizeof(ByteSet)];
    alignas(Choice) unsigned char choiceStorage[kInline.choices * sizeof(Choice)];
    Program program;
    Choice* choices = nullptr;
};
static_assert(std::is_trivially_destructible_v<Workspace>);

void checkLength(lua_State* L, std::size_t patternLength)
{
    if (patternLength > kMaxPatternLength) {
        luaL_error(L, "pattern too long");
    }
}

// Compiles the pattern (find, match, gsub: a leading '^' anchors). Pushes a userdata when the
// pattern is long. Compiling is work too: the meter hears of it.
void prepare(lua_State* L, WorkMeter& meter, Workspace& space, const char* pattern, std::size_t length)
{
    checkLength(L, length);
    if (length <= kInlinePattern) {
        space.choices = reinterpret_cast<Choice*>(space.choiceStorage);
        space.program = compile(pattern, length, true, reinterpret_cast<Item*>(space.items),
                                reinterpret_cast<ByteSet*>(space.bitmaps));
    } else {
        const Sizes sizes = measure(pattern, length, true);
        meter.spend(length);
        const Layout layout = layoutOf(lua_newuserdatauv(L, blockSize(sizes), 0), sizes);
        space.choices = layout.choices;
        space.program = compile(pattern, length, true, layout.items, layout.bitmaps);
    }
    meter.spend(length);
}

int raiseMalformed(lua_State* L, const Matcher& matcher)
{
    char text[64];
    describe(matcher.malformed(), text, sizeof text);
    return luaL_error(L, "%s", text);
}

// Capture `index` of the match [start, end); without captures, index 0 is the whole match.
void pushCapture(lua_State* L, const Matcher& matcher, const char* subject, int index, std::size_t start,
                 std::size_t end)
{
    if (index >= matcher.captureCount()) {
        if (index != 0) {
            luaL_error(L, "invalid capture index %%%d", index + 1);
        }
        lua_pushlstring(L, subject + start, end - start);
        return;
    }
    const Capture& capture = matcher.capture(index);
    if (capture.length == Capture::kUnfinished) {
        luaL_error(L, "unfinished capture");
    }
    if (capture.length == Capture::kPosition) {
        lua_pushinteger(L, static_cast<lua_Integer>(capture.start) + 1);
    } else {
        lua_pushlstring(L, subject + capture.start, static_cast<std::size_t>(capture.length));
    }
}

// All captures; without any, the whole match when `wholeMatch` (match, gmatch, gsub) or nothing
// (find, which returns the positions).
int pushCaptures(lua_State* L, const Matcher& matcher, const char* subject, std::size_t start, std::size_t end,
                 bool wholeMatch)
{
    const int count = matcher.captureCount() == 0 && wholeMatch ? 1 : matcher.captureCount();
    luaL_checkstack(L, count, "too many captures");
    for (int i = 0; i < count; ++i) {
        pushCapture(L, matcher, subject, i, start, end);
    }
    return count;
}

enum class Search { Find, Match };

int findOrMatch(lua_State* L, Search search)
{
    const bool find = search == Search::Find;
    std::size_t length = 0;
    std::size_t patternLength = 0;
    const char* subject = luaL_checklstring(L, 1, &length);
    const char* pattern = luaL_checklstring(L, 2, &patternLength);
    const std::size_t first = startPosition(luaL_optinteger(L, 3, 1), length);
    if (first > length) {
        luaL_pushfail(L);
        return 1;
    }
    Caller caller{L, &hooksOf(L, 1)};
    WorkMeter meter(&reportProgress, &caller);
    const bool plain = find && (lua_toboolean(L, 4) != 0 || isPlainText(pattern, patternLength));
    meter.spend(find ? patternLength : 0);
    if (plain) {
        const std::size_t at = findPlain(meter, subject, length, first, pattern, patternLength);
        if (at == kNotFound) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, static_cast<lua_Integer>(at) + 1);
        lua_pushinteger(L, static_cast<lua_Integer>(at) + static_cast<lua_Integer>(patternLength));
        return 2;
    }
    Workspace space;
    prepare(L, meter, space, pattern, patternLength);
    Matcher matcher(space.program, subject, length, space.choices, meter);
    for (std::size_t start = first;; ++start) {
        const Matcher::Result result = matcher.matchAt(start);
        if (result == Matcher::Result::Malformed) {
            return raiseMalformed(L, matcher);
        }
        if (result == Matcher::Result::Matched) {
            if (!find) {
                return pushCaptures(L, matcher, subject, start, matcher.matchEnd(), true);
            }
            lua_pushinteger(L, static_cast<lua_Integer>(start) + 1);
            lua_pushinteger(L, static_cast<lua_Integer>(matcher.matchEnd()));
            return 2 + pushCaptures(L, matcher, subject, start, matcher.matchEnd(), false);
        }
        if (space.program.anchored || start == length) {
            break;
        }
    }
    luaL_pushfail(L);
    return 1;
}

int stringFind(lua_State* L) { return findOrMatch(L, Search::Find); }

int stringMatch(lua_State* L) { return findOrMatch(L, Search::Match); }

// --- gmatch: the iterator's state, then its compiled pattern (layoutOf), in one userdata.

struct alignas(Choice) GmatchState {
    Program program;
    Choice* choices;
    std::size_t next;     // where the next attempt starts (past the end: done)
    std::size_t lastEnd;  // end of the last match: an empty match there is skipped
};
static_assert(sizeof(GmatchState) % alignof(Choice) == 0);

int gmatchStep(lua_State* L)  // upvalues: subject, pattern, state, hooks
{
    std::size_t length = 0;
    const char* subject = lua_tolstring(L, lua_upvalueindex(1), &length);
    auto* state = static_cast<GmatchState*>(lua_touserdata(L, lua_upvalueindex(3)));
    Caller caller{L, &hooksOf(L, 4)};
    WorkMeter meter(&reportProgress, &caller);
    Matcher matcher(state->program, subject, length, state->choices, meter);
    for (std::size_t start = state->next; start <= length; ++start) {
        const Matcher::Result result = matcher.matchAt(start);
        if (result == Matcher::Result::Malformed) {
            return raiseMalformed(L, matcher);
        }
        if (result == Matcher::Result::Matched && matcher.matchEnd() != state->lastEnd) {
            state->next = matcher.matchEnd();
            state->lastEnd = matcher.matchEnd();
            return pushCaptures(L, matcher, subject, start, matcher.matchEnd(), true);
        }
    }
    state->next = length + 1;
    return 0;
}

int stringGmatch(lua_State* L)  // upvalue: hooks
{
    std::size_t length = 0;
    std::size_t patternLength = 0;
    luaL_checklstring(L, 1, &length);
    const char* pattern = luaL_checklstring(L, 2, &patternLength);
    std::size_t first = startPosition(luaL_optinteger(L, 3, 1), length);
    if (first > length) {
        first = length + 1;  // no attempt at all
    }
    checkLength(L, patternLength);
    Caller caller{L, &hooksOf(L, 1)};
    WorkMeter meter(&reportProgress, &caller);
    meter.spend(2 * patternLength);  // measured and compiled
    lua_settop(L, 2);                // the subject and the pattern become the iterator's upvalues
    const Sizes sizes = measure(pattern, patternLength, false);
    auto* state = static_cast<GmatchState*>(lua_newuserdatauv(L, sizeof(GmatchState) + blockSize(sizes), 0));
    const Layout layout = layoutOf(state + 1, sizes);
    state->program = compile(pattern, patternLength, false, layout.items, layout.bitmaps);
    state->choices = layout.choices;
    state->next = first;
    state->lastEnd = kNotFound;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, &gmatchStep, 4);
    return 1;
}

// --- gsub

// Appends the replacement string (argument 3) with %0-%9 and %% expanded.
void appendExpanded(lua_State* L, luaL_Buffer& out, const Matcher& matcher, WorkMeter& meter, const char* subject,
                    std::size_t start, std::size_t end)
{
    std::size_t length = 0;
    const char* text = lua_tolstring(L, 3, &length);
    meter.spend(length);
    std::size_t plain = 0;  // start of the bytes not yet appended
    for (std::size_t at = 0; at < length; ++at) {
        if (text[at] != '%') {
            continue;
        }
        luaL_addlstring(&out, text + plain, at - plain);
        ++at;
        const char c = at < length ? text[at] : '\0';
        if (c == '%') {
            luaL_addchar(&out, '%');
        } else if (c == '0') {
            meter.spend(end - start);
            luaL_addlstring(&out, subject + start, end - start);
        } else if (c >= '1' && c <= '9') {
            pushCapture(L, matcher, subject, c - '1', start, end);
            luaL_addvalue(&out);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        plain = at + 1;
    }
    luaL_addlstring(&out, text + plain, length - plain);
}

void appendReplacement(lua_State* L, luaL_Buffer& out, const Matcher& matcher, WorkMeter& meter, const char* subject,
                       std::size_t start, std::size_t end, int replacementType)
{
    if (replacementType == LUA_TSTRING || replacementType == LUA_TNUMBER) {
        appendExpanded(L, out, matcher, meter, subject, start, end);
        return;
    }
    if (replacementType == LUA_TTABLE) {
        pushCapture(L, matcher, subject, 0, start, end);
        lua_gettable(L, 3);
    } else {
        lua_pushvalue(L, 3);
        const int arguments = pushCaptures(L, matcher, subject, start, end, true);
        lua_call(L, arguments, 1);
    }
    if (lua_toboolean(L, -1) == 0) {  // false or nil: the match stays as it is
        lua_pop(L, 1);
        luaL_addlstring(&out, subject + start, end - start);
    } else if (lua_isstring(L, -1) == 0) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    } else {
        luaL_addvalue(&out);
    }
}

int stringGsub(lua_State* L)  // upvalue: hooks
{
    std::size_t length = 0;
    std::size_t patternLength = 0;
    const char* subject = luaL_checklstring(L, 1, &length);
    const char* pattern = luaL_checklstring(L, 2, &patternLength);
    const int replacementType = lua_type(L, 3);
    const lua_Integer most = luaL_optinteger(L, 4, static_cast<lua_Integer>(length) + 1);
    luaL_argexpected(L,
                     replacementType == LUA_TNUMBER || replacementType == LUA_TSTRING ||
                         replacementType == LUA_TFUNCTION || replacementType == LUA_TTABLE,
                     3, "string/function/table");
    Caller caller{L, &hooksOf(L, 1)};
    WorkMeter meter(&reportProgress, &caller);
    Workspace space;
    prepare(L, meter, space, pattern, patternLength);
    Matcher matcher(space.program, subject, length, space.choices, meter);
    luaL_Buffer out;
    luaL_buffinit(L, &out);
    std::size_t at = 0;
    std::size_t lastEnd = kNotFound;
    lua_Integer replaced = 0;
    while (replaced < most) {
        const Matcher::Result result = matcher.matchAt(at);
        if (result == Matcher::Result::Malformed) {
            return raiseMalformed(L, matcher);
        }
        if (result == Matcher::Result::Matched && matcher.matchEnd() != lastEnd) {
            ++replaced;
            appendReplacement(L, out, matcher, meter, subject, at, matcher.matchEnd(), replacementType);
            at = matcher.matchEnd();
            lastEnd = at;
        } else if (at < length) {
            luaL_addchar(&out, subject[at]);
            ++at;
        } else {
            break;
        }
        if (space.program.anchored) {
            break;
        }
    }
    luaL_addlstring(&out, subject + at, length - at);
    luaL_pushresult(&out);
    lua_pushinteger(L, replaced);
    return 2;
}

void replace(lua_State* L, int table, const char* name, lua_CFunction function, const LuaPatternFunctions::Hooks& hooks)
{
    lua_pushlightuserdata(L, const_cast<LuaPatternFunctions::Hooks*>(&hooks));
    lua_pushcclosure(L, function, 1);
    lua_setfield(L, table, name);
}

}  // namespace

namespace LuaPatternFunctions {

void install(lua_State* L, int stringTable, const Hooks& hooks)
{
    const int table = lua_absindex(L, stringTable);
    replace(L, table, "find", &stringFind, hooks);
    replace(L, table, "match", &stringMatch, hooks);
    replace(L, table, "gmatch", &stringGmatch, hooks);
    replace(L, table, "gsub", &stringGsub, hooks);
}

}  // namespace LuaPatternFunctions

}  // namespace sluice::plugins
