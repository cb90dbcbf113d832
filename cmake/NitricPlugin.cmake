# Helpers for building nitric-host plugins.
#
#   nitric_add_plugin(<name> <sources...> [OUTPUT_DIRECTORY <dir>] [OUTPUT_NAME <file stem>])
#
# builds a MODULE library <name>.so against the C ABI header, with the flags that
# let the host really unload it on reload:
#   -fno-gnu-unique       : STB_GNU_UNIQUE symbols would make dlclose a no-op
#   -fvisibility=hidden   : only the entry symbol (NITRIC_PLUGIN_EXPORT) is exported
#   a version script      : ... including the std:: template instances that
#                           libstdc++'s headers would otherwise export as weak
#                           symbols (visibility flags cannot hide those)
# A plugin written in C links no C++ runtime.
include_guard(GLOBAL)

if(NOT DEFINED NITRIC_PLUGIN_API_INCLUDE_DIR)
  set(NITRIC_PLUGIN_API_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/../plugin-api/include)
endif()

# Exports nitric_plugin_entry and nothing else. The installed package config
# points at the installed copy (share/nitric-host/nitric-plugin.map); from the
# source tree it is written into the build folder.
if(NOT DEFINED NITRIC_PLUGIN_VERSION_SCRIPT)
  set(NITRIC_PLUGIN_VERSION_SCRIPT ${CMAKE_BINARY_DIR}/nitric-plugin.map)
  file(WRITE ${NITRIC_PLUGIN_VERSION_SCRIPT} "{\n  global: nitric_plugin_entry;\n  local: *;\n};\n")
endif()

function(nitric_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY;OUTPUT_NAME" "" ${ARGN})
  add_library(${name} MODULE ${ARG_UNPARSED_ARGUMENTS})
  # C99 for plugin.h, C++20 for plugin.hpp; each applies only to its language.
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_STANDARD 99
    C_STANDARD_REQUIRED ON
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # The file name defaults to the target name; OUTPUT_NAME lets a project keep
  # target names unique (e.g. test_plugin_echo) while producing echo.so.
  if(ARG_OUTPUT_NAME)
    set_target_properties(${name} PROPERTIES OUTPUT_NAME ${ARG_OUTPUT_NAME})
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED NITRIC_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${NITRIC_PLUGIN_OUTPUT_DIRECTORY})
  endif()
  target_include_directories(${name} PRIVATE ${NITRIC_PLUGIN_API_INCLUDE_DIR})
  # -fno-gnu-unique is a GCC option (clang never emits STB_GNU_UNIQUE).
  target_compile_options(${name} PRIVATE
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-fno-gnu-unique>
    -Wall -Wextra -Werror)
  # Every symbol must resolve at link time: a plugin that needs something the
  # host does not provide fails here, not at dlopen in production.
  # (Not in clang's sanitizer and fuzz builds: clang links its sanitizer
  # runtimes into the executable only, so a plugin resolves them from the
  # host or fuzzer at dlopen; NITRIC_SHARED_ALLOW_UNDEFINED, CMakeLists.txt.)
  if(NOT NITRIC_SHARED_ALLOW_UNDEFINED)
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  target_link_options(${name} PRIVATE -Wl,--version-script=${NITRIC_PLUGIN_VERSION_SCRIPT})
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${NITRIC_PLUGIN_VERSION_SCRIPT})
endfunction()
