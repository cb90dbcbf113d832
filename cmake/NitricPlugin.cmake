# Helpers for building nitric-host plugins.
#
#   nitric_add_plugin(<name> <sources...>)
#
# builds a MODULE library <name>.so against the C ABI header, with the flags that
# let the host really unload it on reload:
#   -fno-gnu-unique       : STB_GNU_UNIQUE symbols would make dlclose a no-op
#   -fvisibility=hidden   : only the entry symbol (NITRIC_PLUGIN_EXPORT) is exported
# A plugin written in C links no C++ runtime.
include_guard(GLOBAL)

if(NOT DEFINED NITRIC_PLUGIN_API_INCLUDE_DIR)
  set(NITRIC_PLUGIN_API_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/../plugin-api/include)
endif()

function(nitric_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "" ${ARGN})
  add_library(${name} MODULE ${ARG_UNPARSED_ARGUMENTS})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED NITRIC_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${NITRIC_PLUGIN_OUTPUT_DIRECTORY})
  endif()
  target_include_directories(${name} PRIVATE ${NITRIC_PLUGIN_API_INCLUDE_DIR})
  target_compile_options(${name} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-fno-gnu-unique>
    -Wall -Wextra -Werror)
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
endfunction()
