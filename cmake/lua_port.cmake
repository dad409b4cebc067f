# The port layer's build half: every change lua-home makes to Lua's sources, each checked
# against them. Lua's pristine sources (LUA_SRC) are copied into LUA_PORT_SRC with the edits
# below applied; lua.wasm is compiled from that copy. The C++ half is cpp/port/.
#
#   lh_port_edit(NAME FILE FIND REPLACE): FIND must occur exactly once in FILE.
#   lh_port_expect(NAME FILE TEXT): FILE must contain TEXT (an assumption cpp/port/ relies on).
#
# A failed check stops the configure with "lua-home port: <NAME>: ...": the sources are not the
# ones this layer was written for. docs/PORT.md lists every entry and why it exists.
#
# Usable as a script too (the port's test feeds it doctored sources):
#   cmake -DLUA_SRC=dir -DLUA_PORT_SRC=out -P cmake/lua_port.cmake

if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.20)
endif()
if(NOT LUA_SRC OR NOT LUA_PORT_SRC)
  message(FATAL_ERROR "lua-home port: LUA_SRC and LUA_PORT_SRC must be set")
endif()
get_filename_component(LUA_SRC "${LUA_SRC}" ABSOLUTE)
get_filename_component(LUA_PORT_SRC "${LUA_PORT_SRC}" ABSOLUTE)

# Reads FILE (once) into LH_PORT_TEXT_<file> of the caller.
function(lh_port_load file)
  if(NOT DEFINED LH_PORT_TEXT_${file})
    if(NOT EXISTS "${LUA_SRC}/${file}")
      message(FATAL_ERROR "lua-home port: ${file} is missing from ${LUA_SRC}")
    endif()
    file(READ "${LUA_SRC}/${file}" text)
    set(LH_PORT_TEXT_${file} "${text}" PARENT_SCOPE)
  endif()
endfunction()

function(lh_port_count text find out)
  string(LENGTH "${find}" flen)
  set(n 0)
  set(rest "${text}")
  while(TRUE)
    string(FIND "${rest}" "${find}" at)
    if(at EQUAL -1)
      break()
    endif()
    math(EXPR n "${n} + 1")
    math(EXPR from "${at} + ${flen}")
    string(SUBSTRING "${rest}" ${from} -1 rest)
  endwhile()
  set(${out} ${n} PARENT_SCOPE)
endfunction()

function(lh_port_edit name file find replace)
  lh_port_load(${file})
  lh_port_count("${LH_PORT_TEXT_${file}}" "${find}" n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "lua-home port: ${name}: expected this text once in ${file}, found it ${n} times:\n${find}")
  endif()
  string(REPLACE "${find}" "${replace}" text "${LH_PORT_TEXT_${file}}")
  set(LH_PORT_TEXT_${file} "${text}" PARENT_SCOPE)
endfunction()

function(lh_port_expect name file text)
  lh_port_load(${file})
  string(FIND "${LH_PORT_TEXT_${file}}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "lua-home port: ${name}: ${file} no longer has:\n${text}")
  endif()
  set(LH_PORT_TEXT_${file} "${LH_PORT_TEXT_${file}}" PARENT_SCOPE)
endfunction()

# {====== the version

lh_port_expect(version lua.h [=[#define LUA_VERSION_RELEASE	"7"]=])
lh_port_expect(version lua.h [=[#define LUA_VERSION_MINOR	"4"]=])

# }======

# {====== knobs set by cpp/port/lua_port.h (forced into every file): Lua leaves them open

lh_port_expect(signal-type lstate.h [=[#if !defined(l_signalT)]=])
lh_port_expect(signal-type lstate.h [=[volatile l_signalT trap;]=])
lh_port_expect(signal-type lstate.h [=[volatile l_signalT hookmask;]=])
lh_port_expect(resume-hook llimits.h [=[#if !defined(luai_userstateresume)]=])
lh_port_expect(resume-hook ldo.c [=[luai_userstateresume(L, nargs);]=])
lh_port_expect(max-stack luaconf.h [=[#define LUAI_MAXSTACK		1000000]=])
lh_port_expect(output lauxlib.h [=[#if !defined(lua_writestring)]=])
lh_port_expect(output lauxlib.h [=[#if !defined(lua_writestringerror)]=])
lh_port_expect(number-text luaconf.h [=[#define lua_number2str(s,sz,n)]=])
lh_port_expect(number-text luaconf.h [=[#define lua_integer2str(s,sz,n)]=])
lh_port_expect(number-text luaconf.h [=[#define l_sprintf(s,sz,f,i)	snprintf(s,sz,f,i)]=])
lh_port_expect(hash-seed lstate.c [=[#if !defined(luai_makeseed)]=])
lh_port_expect(jump-table lvm.c [=[#if !defined(LUA_USE_JUMPTABLE)]=])

# }======

# {====== what cpp/port/port.cpp reads of Lua's internals

lh_port_expect(stack-pointers lstate.h [=[  StkIdRel top;  /* first free slot in the stack */]=])
lh_port_expect(stack-pointers lstate.h [=[  StkIdRel func;  /* function index in the stack */]=])
lh_port_expect(count-hook lstate.h [=[  volatile lua_Hook hook;]=])
lh_port_expect(count-hook lstate.h [=[  int basehookcount;]=])
lh_port_expect(string-header lobject.h [=[  char contents[1];]=])
lh_port_expect(long-string lstring.h [=[LUAI_FUNC TString *luaS_createlngstrobj (lua_State *L, size_t l);]=])
lh_port_expect(proxy-node ltable.h [=[#define gval(n)		(&(n)->i_val)]=])
lh_port_expect(proxy-node lobject.h [=[#define keyval(node)		((node)->u.key_val)]=])
lh_port_expect(proxy-node ltable.h [=[#define gnode(t,i)	(&(t)->node[i])]=])
lh_port_expect(error-in-error ldo.h [=[LUAI_FUNC l_noret luaD_throw (lua_State *L, int errcode);]=])

# }======

# {====== lua-home's own behaviour

# Lua runs __gc metamethods with debug hooks off, so the instruction limit's count hook could
# never stop `__gc = function() while true do end end`. Finalizers keep hooks on.
lh_port_edit(finalizer-hooks lgc.c
  [=[    L->allowhook = 0;  /* stop debug hooks during GC metamethod */]=]
  [=[    L->allowhook = 1;  /* lua-home: the instruction limit holds in finalizers too */]=])

# Finalizers run in whichever compute the collector happens to run them: external tables
# refuse their writes (cpp/ext_table.cpp), so none escapes the transaction of the compute that
# made the garbage. The port counts the finalizers running.
lh_port_edit(finalizer-depth lgc.c
  [=[    status = luaD_pcall(L, dothecall, NULL, savestack(L, L->top.p - 2), 0);]=]
  [=[    lh_finalizer_depth++;  /* lua-home: a finalizer runs */
    status = luaD_pcall(L, dothecall, NULL, savestack(L, L->top.p - 2), 0);
    lh_finalizer_depth--;]=])

# The pattern matcher backtracks inside one C call, where the VM counts no steps: each entry of
# match() (one backtracking attempt) counts one step of the instruction limit.
lh_port_edit(pattern-steps lstrlib.c
  [=[  if (l_unlikely(ms->matchdepth-- == 0))]=]
  [=[  if (l_unlikely(lh_pattern_step(ms->matchdepth-- == 0)))  /* lua-home: a step */]=])


# Work-bounded steps (cpp/port/steps.h, docs/ABI.md "Steps"): library functions whose work grows
# with their input charge steps in proportion to it, so an instruction limit bounds time.
# string.rep: a step per 4 copies, and one per LH_CHARS_PER_STEP characters it writes
# (`#("", 1e9)` copies nothing a billion times). Charged once the buffer exists, so a result
# too large is a memory error.
lh_port_edit(work-steps-rep lstrlib.c
  [=[    char *p = luaL_buffinitsize(L, &b, totallen);]=]
  [=[    char *p = luaL_buffinitsize(L, &b, totallen);
    lh_charge(L, n / 4 + (lua_Integer)(totallen / LH_CHARS_PER_STEP));  /* lua-home: its work */]=])
# The pattern matcher: %b scans and greedy repetitions compare characters inside one step.
lh_port_edit(work-steps-balance lstrlib.c
  [=[    int cont = 1;
    while (++s < ms->src_end) {
      if (*s == e) {
        if (--cont == 0) return s+1;
      }
      else if (*s == b) cont++;
    }
  }
  return NULL;  /* string ends out of balance */]=]
  [=[    int cont = 1;
    const char *from = s;  /* lua-home: the scan is charged, one step per LH_CHARS_PER_STEP */
    while (++s < ms->src_end) {
      if (*s == e) {
        if (--cont == 0) {
          lh_charge(ms->L, (s - from) / LH_CHARS_PER_STEP);
          return s+1;
        }
      }
      else if (*s == b) cont++;
    }
    lh_charge(ms->L, (s - from) / LH_CHARS_PER_STEP);
  }
  return NULL;  /* string ends out of balance */]=])
lh_port_edit(work-steps-expand lstrlib.c
  [=[  while (singlematch(ms, s + i, p, ep))
    i++;]=]
  [=[  while (singlematch(ms, s + i, p, ep))
    i++;
  lh_charge(ms->L, i / LH_CHARS_PER_STEP);  /* lua-home: the characters compared */]=])
# A plain find: the characters memchr passes and, per candidate, the needle memcmp may compare.
lh_port_edit(work-steps-memfind lstrlib.c
  [=[      init++;   /* 1st char is already checked */
      if (memcmp(init, s2+1, l2) == 0)]=]
  [=[      init++;   /* 1st char is already checked */
      if (lh_charge_quiet(1 + (long long)((size_t)(init - s1) + l2) / LH_CHARS_PER_STEP))
        return NULL;  /* lua-home: out of steps; the VM's next step raises the limit */
      if (memcmp(init, s2+1, l2) == 0)]=])
# table.insert and table.remove shift elements, table.move copies them, table.concat joins them,
# table.sort compares them: a step per element (or comparison).
lh_port_edit(work-steps-insert ltablib.c
  [=[        lua_geti(L, 1, i - 1);
        lua_seti(L, 1, i);  /* t[i] = t[i - 1] */]=]
  [=[        lh_charge(L, 1);  /* lua-home: a step per element shifted */
        lua_geti(L, 1, i - 1);
        lua_seti(L, 1, i);  /* t[i] = t[i - 1] */]=])
lh_port_edit(work-steps-remove ltablib.c
  [=[    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);  /* t[pos] = t[pos + 1] */]=]
  [=[    lh_charge(L, 1);  /* lua-home: a step per element shifted */
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);  /* t[pos] = t[pos + 1] */]=])
lh_port_edit(work-steps-move ltablib.c
  [=[      for (i = 0; i < n; i++) {
        lua_geti(L, 1, f + i);]=]
  [=[      for (i = 0; i < n; i++) {
        lh_charge(L, 1);  /* lua-home: a step per element copied */
        lua_geti(L, 1, f + i);]=])
lh_port_edit(work-steps-move-back ltablib.c
  [=[      for (i = n - 1; i >= 0; i--) {
        lua_geti(L, 1, f + i);]=]
  [=[      for (i = n - 1; i >= 0; i--) {
        lh_charge(L, 1);  /* lua-home: a step per element copied */
        lua_geti(L, 1, f + i);]=])
lh_port_edit(work-steps-concat ltablib.c
  [=[  for (; i < last; i++) {
    addfield(L, &b, i);]=]
  [=[  for (; i < last; i++) {
    lh_charge(L, 1 + (long long)lsep / LH_CHARS_PER_STEP);  /* lua-home: a step per element */
    addfield(L, &b, i);]=])
# Functions that push or take one value per element: a step per element.
lh_port_edit(work-steps-unpack ltablib.c
  [=[  for (; i < e; i++) {  /* push arg[i..e - 1] (to avoid overflows) */]=]
  [=[  lh_charge(L, (long long)n);  /* lua-home: a step per value pushed */
  for (; i < e; i++) {  /* push arg[i..e - 1] (to avoid overflows) */]=])
lh_port_edit(work-steps-byte lstrlib.c
  [=[  luaL_checkstack(L, n, "string slice too long");]=]
  [=[  luaL_checkstack(L, n, "string slice too long");
  lh_charge(L, n);  /* lua-home: a step per value pushed */]=])
lh_port_edit(work-steps-char lstrlib.c
  [=[  char *p = luaL_buffinitsize(L, &b, n);]=]
  [=[  char *p = luaL_buffinitsize(L, &b, n);
  lh_charge(L, n);  /* lua-home: a step per argument */]=])
lh_port_edit(work-steps-utf8-char lutf8lib.c
  [=[  int n = lua_gettop(L);  /* number of arguments */
  if (n == 1)  /* optimize common case of single char */]=]
  [=[  int n = lua_gettop(L);  /* number of arguments */
  lh_charge(L, n);  /* lua-home: a step per argument */
  if (n == 1)  /* optimize common case of single char */]=])
# string.lower and string.upper call the C library per character: a step per 2 characters.
lh_port_edit(work-steps-lower lstrlib.c
  [=[  for (i=0; i<l; i++)
    p[i] = tolower(uchar(s[i]));]=]
  [=[  lh_charge(L, (long long)(l / 2));  /* lua-home: a call per character */
  for (i=0; i<l; i++)
    p[i] = tolower(uchar(s[i]));]=])
lh_port_edit(work-steps-upper lstrlib.c
  [=[  for (i=0; i<l; i++)
    p[i] = toupper(uchar(s[i]));]=]
  [=[  lh_charge(L, (long long)(l / 2));  /* lua-home: a call per character */
  for (i=0; i<l; i++)
    p[i] = toupper(uchar(s[i]));]=])
# collectgarbage("collect") and ("step") walk the heap: a step per 16 bytes of it.
lh_port_edit(work-steps-collect lbaselib.c
  [=[  int o = optsnum[luaL_checkoption(L, 1, "collect", opts)];
  switch (o) {]=]
  [=[  int o = optsnum[luaL_checkoption(L, 1, "collect", opts)];
  if (o == LUA_GCCOLLECT || o == LUA_GCSTEP)  /* lua-home: the walk of the heap */
    lh_charge(L, 16 + (long long)lua_gc(L, LUA_GCCOUNT) * 1024 / 16);
  switch (o) {]=])
lh_port_edit(work-steps-sort ltablib.c
  [=[static int sort_comp (lua_State *L, int a, int b) {
  if (lua_isnil(L, 2))  /* no function? */]=]
  [=[static int sort_comp (lua_State *L, int a, int b) {
  lh_charge(L, 1);  /* lua-home: a step per comparison */
  if (lua_isnil(L, 2))  /* no function? */]=])

# }======

# {====== upstream bugs fixed after the release lua/SOURCE names (in 5.4.8; lua.org/bugs.html), in our words

# 5.4.8: luaK_exp2val did not treat an expression that is itself a jump (a comparison) as having
# jumps, so `t[1 < 2]` indexed with the wrong register.
lh_port_edit(bug-548-index-comparison lcode.c
  [=[void luaK_exp2val (FuncState *fs, expdesc *e) {
  if (hasjumps(e))]=]
  [=[void luaK_exp2val (FuncState *fs, expdesc *e) {
  if (e->k == VJMP || hasjumps(e))  /* lua-home: a comparison is a jump too */]=])

# 5.4.8: closing a thread or the state runs __close metamethods with the stack unwound, and a
# message handler left in the unwound part could be overwritten and then called.
lh_port_edit(bug-548-close-handler lstate.c
  [=[  L->status = LUA_OK;  /* so it can run __close metamethods */
  status = luaD_closeprotected(L, 1, status);]=]
  [=[  L->status = LUA_OK;  /* so it can run __close metamethods */
  L->errfunc = 0;  /* lua-home: the handler's slot is gone with the unwound stack */
  status = luaD_closeprotected(L, 1, status);]=])

# 5.4.8: luaV_finishset stores into a table it no longer anchors; with a weak metatable an
# emergency collection during the store could free it.
lh_port_edit(bug-548-finishset-anchor lvm.c
  [=[        luaH_finishset(L, h, key, slot, val);  /* set new value */
        invalidateTMcache(h);]=]
  [=[        sethvalue2s(L, L->top.p, h);  /* lua-home: keep 't' alive during the store */
        L->top.p++;  /* EXTRA_STACK has room */
        luaH_finishset(L, h, key, slot, val);  /* set new value */
        L->top.p--;
        invalidateTMcache(h);]=])

# 5.4.8: luaD_seterrorobj may run unprotected but allocated "error in error handling". The
# message is now made where the error is raised (cpp/port/port.cpp, lh_port_error_in_error).
lh_port_edit(bug-548-errerr-alloc ldo.c
  [=[    case LUA_ERRERR: {
      setsvalue2s(L, oldtop, luaS_newliteral(L, "error in error handling"));
      break;
    }
]=]
  "")
lh_port_edit(bug-548-errerr-alloc ldo.c
  [=[      luaD_throw(L, LUA_ERRERR);  /* error inside message handler */]=]
  [=[      lh_port_error_in_error(L);  /* lua-home: error inside message handler */]=])
lh_port_edit(bug-548-errerr-alloc lstate.c
  [=[    luaD_throw(L, LUA_ERRERR);  /* error while handling stack error */]=]
  [=[    lh_port_error_in_error(L);  /* lua-home: error while handling stack error */]=])

# 5.4.8: an error in a field of a string named "_ENV" (("_ENV").x + 1) was reported as a global.
lh_port_edit(bug-548-env-string ldebug.c
  [=[  else  /* 't' is a register */
    basicgetobjname(p, &pc, t, &name);]=]
  [=[  else {  /* 't' is a register */
    const char *what = basicgetobjname(p, &pc, t, &name);
    if (!(what && (*what == 'l' || *what == 'u')))  /* lua-home: only a local or an upvalue */
      name = NULL;  /* anything else cannot be the variable _ENV */
  }]=])

# 5.4.8: table constructors checked their size limit only for `name = exp` fields. A
# constructor with 2^31 `[exp] = exp` fields cannot fit in 2 MiB here; fixed all the same.
lh_port_edit(bug-548-constructor-limit lparser.c
  [=[  if (ls->t.token == TK_NAME) {
    checklimit(fs, cc->nh, MAX_INT, "items in a constructor");
    codename(ls, &key);
  }
  else  /* ls->t.token == '[' */
    yindex(ls, &key);]=]
  [=[  checklimit(fs, cc->nh, MAX_INT, "items in a constructor");  /* lua-home: both forms */
  if (ls->t.token == TK_NAME)
    codename(ls, &key);
  else  /* ls->t.token == '[' */
    yindex(ls, &key);]=])

# }======

# Write the copy: every file of LUA_SRC, edited where an edit applies (unchanged files are
# rewritten only when they differ, so make rebuilds only what changed).
file(GLOB lh_all RELATIVE "${LUA_SRC}" "${LUA_SRC}/*.c" "${LUA_SRC}/*.h")
file(MAKE_DIRECTORY "${LUA_PORT_SRC}")
foreach(f IN LISTS lh_all)
  if(DEFINED LH_PORT_TEXT_${f})
    set(text "${LH_PORT_TEXT_${f}}")
  else()
    file(READ "${LUA_SRC}/${f}" text)
  endif()
  set(old "")
  if(EXISTS "${LUA_PORT_SRC}/${f}")
    file(READ "${LUA_PORT_SRC}/${f}" old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${LUA_PORT_SRC}/${f}" "${text}")
  endif()
endforeach()
