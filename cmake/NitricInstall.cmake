# Install rules: `cmake --install build --prefix P` lays out
#
#   P/bin/nitric-host, P/bin/nitric-dev-membrane
#   P/include/nitric/                      plugin.h, plugin.hpp and what they include
#   P/lib/cmake/NitricPlugin/              package config: find_package(NitricPlugin 1.0 CONFIG)
#   P/lib/pkgconfig/nitric-plugin.pc       pkg-config: cflags and the plugin_ldflags variable
#   P/share/nitric-host/                   example config, example plugins' sources,
#                                          the plugins' version script
#   P/lib/systemd/system/nitric-host.service
#
# Nothing of the third-party libraries is installed: they are Debian packages
# (scripts/install-deps.sh), and a plugin links nothing of the host.
#
# Install components (CPack packs some of them, cmake/NitricPackage.cmake):
#   runtime  the binaries and share/nitric-host
#   dev      headers, package config, pkg-config file (the plugin SDK)
#   unit     the generic systemd unit (DynamicUser, config in /etc/nitric-host)
#   deb      only in the Debian package (EXCLUDE_FROM_ALL: never written by a
#            plain `cmake --install`): /etc/nitric-host, sysusers.d, the
#            packaged unit, /usr/lib/nitric-host/plugins, the doc folder
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NITRIC_PLUGIN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/NitricPlugin)
set(NITRIC_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/nitric-host)

# The package version is the plugin ABI that the installed headers speak
# (NITRIC_ABI_MAJOR.NITRIC_ABI_MINOR of plugin.h): find_package(NitricPlugin
# 1.0) accepts any 1.x, refuses 2.x.
file(STRINGS ${PROJECT_SOURCE_DIR}/plugin-api/include/nitric/plugin.h nitric_abi_lines
     REGEX "^#define NITRIC_ABI_(MAJOR|MINOR) [0-9]+$")
string(REGEX MATCH "MAJOR ([0-9]+)" _ "${nitric_abi_lines}")
set(nitric_abi_major ${CMAKE_MATCH_1})
string(REGEX MATCH "MINOR ([0-9]+)" _ "${nitric_abi_lines}")
set(nitric_abi_minor ${CMAKE_MATCH_1})
if(nitric_abi_major STREQUAL "" OR nitric_abi_minor STREQUAL "")
  message(FATAL_ERROR "cmake/NitricInstall.cmake: no NITRIC_ABI_MAJOR/MINOR in plugin.h")
endif()
set(NITRIC_PLUGIN_PACKAGE_VERSION ${nitric_abi_major}.${nitric_abi_minor})

# nitric_install_configured(TEMPLATE DESTINATION COMPONENT [NAME name])
# installs TEMPLATE with @NITRIC_INSTALL_PREFIX@ replaced by the prefix that
# the install really uses (`cmake --install --prefix P` and CPack choose it
# after configuring), after the configure-time @VARIABLES@. The file is
# written per install prefix, so two installs at once do not mix.
function(nitric_install_configured template destination component)
  cmake_parse_arguments(ARG "" "NAME" "" ${ARGN})
  if(ARG_NAME)
    set(name ${ARG_NAME})
  else()
    get_filename_component(name ${template} NAME_WLE)
  endif()
  set(stage1 ${CMAKE_BINARY_DIR}/install-templates/${component}/${name}.in)
  set(NITRIC_INSTALL_PREFIX "@NITRIC_INSTALL_PREFIX@") # kept for install time
  configure_file(${template} ${stage1} @ONLY)
  install(CODE "
    set(NITRIC_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    string(MD5 _nitric_key \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
    set(_nitric_out \"${CMAKE_BINARY_DIR}/install-templates/${component}/\${_nitric_key}/${name}\")
    configure_file(\"${stage1}\" \"\${_nitric_out}\" @ONLY)
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${destination}\" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES \"\${_nitric_out}\")
  " COMPONENT ${component})
endfunction()

# ---- runtime: the binaries, the example config and plugins ----
install(TARGETS nitric-host nitric-dev-membrane RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/config/nitric-host.toml DESTINATION ${NITRIC_SHARE_DIR}
        COMPONENT runtime)
# plugins/CMakeLists.txt is also a project of its own against the installed
# package config: cmake -S P/share/nitric-host/plugins -B build.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/plugins/ DESTINATION ${NITRIC_SHARE_DIR}/plugins
        COMPONENT runtime FILES_MATCHING PATTERN "*.c" PATTERN "*.cc" PATTERN "*.h"
        PATTERN "*.hpp" PATTERN "CMakeLists.txt")

# ---- dev: the plugin SDK ----
install(DIRECTORY ${PROJECT_SOURCE_DIR}/plugin-api/include/nitric
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
        FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
# The version script nitric_add_plugin links with (written by NitricPlugin.cmake);
# the installed package config and the .pc file point at this copy.
install(FILES ${NITRIC_PLUGIN_VERSION_SCRIPT} DESTINATION ${NITRIC_SHARE_DIR} COMPONENT dev)

# Every target of the SDK goes into the one export set NitricPluginTargets
# (namespace NitricPlugin::); NitricPluginConfig.cmake imports them all and
# answers COMPONENTS by target name. To add one: set its EXPORT_NAME to the
# component's name, give it $<BUILD_INTERFACE:...>/$<INSTALL_INTERFACE:include>
# include folders, install(TARGETS t EXPORT NitricPluginTargets COMPONENT dev
# LIBRARY/ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}), add find_dependency()
# for its public third-party links to the config template, and list its files
# in tests/install/install_test.sh.
set_target_properties(nitric_plugin_api PROPERTIES EXPORT_NAME api)
install(TARGETS nitric_plugin_api EXPORT NitricPluginTargets COMPONENT dev)
install(EXPORT NitricPluginTargets NAMESPACE NitricPlugin:: DESTINATION ${NITRIC_PLUGIN_CMAKE_DIR}
        COMPONENT dev)
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/NitricPluginInstalledConfig.cmake.in
  ${CMAKE_BINARY_DIR}/package/NitricPluginConfig.cmake
  INSTALL_DESTINATION ${NITRIC_PLUGIN_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR NITRIC_SHARE_DIR)
# Not ARCH_INDEPENDENT: a compiled library may join the package.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/package/NitricPluginConfigVersion.cmake
  VERSION ${NITRIC_PLUGIN_PACKAGE_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/package/NitricPluginConfig.cmake
              ${CMAKE_BINARY_DIR}/package/NitricPluginConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/NitricPlugin.cmake
        DESTINATION ${NITRIC_PLUGIN_CMAKE_DIR} COMPONENT dev)
nitric_install_configured(${PROJECT_SOURCE_DIR}/cmake/nitric-plugin.pc.in
                          ${CMAKE_INSTALL_LIBDIR}/pkgconfig dev)

# ---- unit: the generic systemd unit ----
set(NITRIC_UNIT_ACCOUNT "# A user of its own, allocated while it runs; a system user named\n# nitric-host, if there is one (the Debian package makes it), is used instead.\nUser=nitric-host\nDynamicUser=yes")
set(NITRIC_UNIT_DOCUMENTATION
    "file://@NITRIC_INSTALL_PREFIX@/${CMAKE_INSTALL_DATADIR}/nitric-host/nitric-host.toml")
nitric_install_configured(${PROJECT_SOURCE_DIR}/config/nitric-host.service.in
                          lib/systemd/system unit)
