# Package config for plugin authors building outside this tree:
#
#   find_package(NitricPlugin CONFIG REQUIRED PATHS /path/to/nitric-host/cmake)
#   nitric_add_plugin(chat chat.cc)
#
# Only the C ABI header and the build flags are needed: a plugin links
# nothing of the host.
include(${CMAKE_CURRENT_LIST_DIR}/NitricPlugin.cmake)
set(NitricPlugin_INCLUDE_DIR ${NITRIC_PLUGIN_API_INCLUDE_DIR})
