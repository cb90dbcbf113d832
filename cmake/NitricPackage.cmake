# The Debian package: `cpack -G DEB` in the build folder writes
# nitric-host_<version>_amd64.deb, one package holding the host, the dev
# membrane and the plugin SDK (headers, CMake package config, pkg-config file:
# a few text files, no library, so a separate -dev package would buy nothing).
#
# It packs the install components runtime, dev and deb (cmake/NitricInstall.cmake)
# with prefix /usr, and adds what only the package has:
#   /etc/nitric-host/nitric-host.toml     conffile: the documented config with
#                                         the packaged plugins and state folders
#   /usr/lib/nitric-host/plugins/         the plugins folder (root, 0755)
#   /usr/lib/sysusers.d/nitric-host.conf  the system user nitric-host
#   /lib/systemd/system/nitric-host.service  runs as that user, enabled by postinst
#   /usr/share/doc/nitric-host/           copyright, changelog.gz, README.md
#   /usr/share/man/man1/                  pages made from --help (NitricManPage.cmake)
# Maintainer scripts and the other control files are in config/debian/.
# Runtime Depends come from dpkg-shlibdeps. tests/install/deb_test.sh checks
# contents, Depends, conffiles and lintian.
#
# lintian (Debian 12's 2.116) reports no error. What it still says, and why:
#   W pkg-config-unavailable-for-cross-compilation  nitric-plugin.pc is in
#     /usr/lib/pkgconfig, where the layout (issue 13) puts it beside
#     lib/cmake; it has no architecture-specific content today.
#   I hardening-no-bindnow, hardening-no-fortify-functions  the project's
#     Release flags, not dpkg-buildflags: PIE with partial RELRO, no
#     -D_FORTIFY_SOURCE; the build flags belong to the whole project.
#   I binary-has-unneeded-section .comment  CPack strips with plain `strip`.
#   I package-contains-documentation-outside-usr-share-doc  the example
#     plugins' CMakeLists.txt in /usr/share/nitric-host/plugins (sources).
#   I package-contains-empty-directory  /usr/lib/nitric-host/plugins, on purpose.
#   I package-supports-alternative-init-but-no-init.d-script  systemd only.
include_guard(GLOBAL)
include(GNUInstallDirs)

set(NITRIC_DEB_DIR ${PROJECT_SOURCE_DIR}/config/debian)
set(NITRIC_DEB_BUILD ${CMAKE_BINARY_DIR}/debian)
set(NITRIC_DEB_PLUGINS_DIR /usr/lib/nitric-host/plugins)
set(NITRIC_DEB_STATE_DIR /var/lib/nitric-host)
set(NITRIC_DEB_MAINTAINER "nitric-host maintainers <maintainers@users.noreply.r-seed-a29c98cf.example>"
    CACHE STRING "Maintainer field of the Debian package")

# The changelog's newest entry must be this version (a release adds an entry).
file(STRINGS ${NITRIC_DEB_DIR}/changelog nitric_changelog_top LIMIT_COUNT 1)
if(NOT nitric_changelog_top MATCHES "^nitric-host \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "config/debian/changelog: the newest entry is '${nitric_changelog_top}', "
                      "not version ${PROJECT_VERSION} of project(); add an entry for it")
endif()

# ---- the packaged config: config/nitric-host.toml with the package's folders ----
file(READ ${PROJECT_SOURCE_DIR}/config/nitric-host.toml nitric_toml)
set(nitric_toml_before "${nitric_toml}")
string(REPLACE "\nplugins_dir = \"plugins\"\n" "\nplugins_dir = \"${NITRIC_DEB_PLUGINS_DIR}\"\n"
               nitric_toml "${nitric_toml}")
string(REPLACE "\n# state_dir = \"/var/lib/nitric-host\"\n" "\nstate_dir = \"${NITRIC_DEB_STATE_DIR}\"\n"
               nitric_toml "${nitric_toml}")
string(REGEX MATCHALL "\n(plugins_dir|state_dir) = \"/[^\n]*\n" nitric_toml_set "${nitric_toml}")
list(LENGTH nitric_toml_set nitric_toml_set_count)
if(NOT nitric_toml_set_count EQUAL 2)
  message(FATAL_ERROR "cmake/NitricPackage.cmake: config/nitric-host.toml no longer has the lines "
                      "'plugins_dir = \"plugins\"' and '# state_dir = \"/var/lib/nitric-host\"' "
                      "that the packaged config replaces")
endif()
file(WRITE ${NITRIC_DEB_BUILD}/nitric-host.toml
     "# /etc/nitric-host/nitric-host.toml of the Debian package: the documented defaults\n"
     "# (/usr/share/nitric-host/nitric-host.toml) with the package's plugins and state\n"
     "# folders. nitric-host.service runs `nitric-host --config` on this file; after\n"
     "# editing it, `systemctl restart nitric-host` ([plugins.<name>] tables: reload).\n"
     "#\n${nitric_toml}")
install(FILES ${NITRIC_DEB_BUILD}/nitric-host.toml DESTINATION /etc/nitric-host COMPONENT deb
        EXCLUDE_FROM_ALL)

# ---- folders, user, unit ----
file(MAKE_DIRECTORY ${NITRIC_DEB_BUILD}/empty)
install(DIRECTORY ${NITRIC_DEB_BUILD}/empty/ DESTINATION ${NITRIC_DEB_PLUGINS_DIR}
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                              WORLD_READ WORLD_EXECUTE
        COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${NITRIC_DEB_DIR}/sysusers.conf DESTINATION lib/sysusers.d RENAME nitric-host.conf
        COMPONENT deb EXCLUDE_FROM_ALL)
# Debian 12 keeps units in /lib/systemd/system (dpkg and the /usr merge).
set(NITRIC_UNIT_ACCOUNT "User=nitric-host\nGroup=nitric-host")
set(NITRIC_UNIT_DOCUMENTATION "man:nitric-host(1) file:///usr/share/doc/nitric-host/README.md")
# The packaged unit names /usr/bin/nitric-host whatever prefix this build was
# configured with: the package is always installed under /usr.
set(NITRIC_INSTALL_PREFIX /usr)
configure_file(${PROJECT_SOURCE_DIR}/config/nitric-host.service.in
               ${NITRIC_DEB_BUILD}/nitric-host.service @ONLY)
unset(NITRIC_INSTALL_PREFIX)
install(FILES ${NITRIC_DEB_BUILD}/nitric-host.service DESTINATION /lib/systemd/system
        COMPONENT deb EXCLUDE_FROM_ALL)

# ---- documentation ----
execute_process(COMMAND gzip -9n -c ${NITRIC_DEB_DIR}/changelog
                OUTPUT_FILE ${NITRIC_DEB_BUILD}/changelog.gz RESULT_VARIABLE nitric_gzip_rc)
if(NOT nitric_gzip_rc EQUAL 0)
  message(FATAL_ERROR "gzip of config/debian/changelog failed")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${NITRIC_DEB_DIR}/changelog
                                                               ${PROJECT_SOURCE_DIR}/config/nitric-host.toml)
install(FILES ${NITRIC_DEB_DIR}/copyright ${NITRIC_DEB_BUILD}/changelog.gz
              ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/nitric-host COMPONENT deb EXCLUDE_FROM_ALL)

# Manual pages from --help, written when the package is made (the binaries
# exist then; a plain `cmake --install` does not install them).
foreach(binary nitric-host nitric-dev-membrane)
  if(binary STREQUAL "nitric-host")
    set(summary "run Nitric websocket handlers from plugins")
  else()
    set(summary "local Nitric membrane for development")
  endif()
  install(CODE "
    include(\"${PROJECT_SOURCE_DIR}/cmake/NitricManPage.cmake\")
    string(MD5 _nitric_key \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
    set(_nitric_man \"${NITRIC_DEB_BUILD}/man/\${_nitric_key}/${binary}.1.gz\")
    nitric_write_man_page(\"$<TARGET_FILE:${binary}>\" ${binary} \"${summary}\" \"\${_nitric_man}\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_MANDIR}/man1\" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES \"\${_nitric_man}\")
  " COMPONENT deb EXCLUDE_FROM_ALL)
endforeach()

# ---- CPack ----
set(CPACK_PACKAGE_NAME nitric-host)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "nitric-host maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "plugin host daemon for Nitric websockets")
set(CPACK_GENERATOR DEB)
# CPACK_INSTALL_PREFIX is the prefix in DESTDIR mode (below).
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
# Install with DESTDIR so that /etc and /lib land in the package as they are,
# and files written at install time (cmake/NitricInstall.cmake) see /usr.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL runtime dev deb)
set(CPACK_DEBIAN_PACKAGE_NAME nitric-host)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${NITRIC_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE https://nitric.io)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Added to what dpkg-shlibdeps finds: what runs systemd-sysusers in postinst.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers | systemd-sysusers")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, pkg-config, g++")
# The extended description; CPack puts the summary line above it and indents it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "nitric-host plays the part of a Nitric service: it owns the gRPC session to
the Nitric membrane and runs the application's websocket handlers from
shared-object plugins loaded through a stable C ABI. Replacing a plugin file
and reloading swaps the code without dropping a client connection.

This package holds nitric-host, the local development membrane
nitric-dev-membrane, a systemd unit, and the SDK for building plugins in C
or C++ (headers, a CMake package config and a pkg-config file).")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${NITRIC_DEB_DIR}/conffiles ${NITRIC_DEB_DIR}/postinst ${NITRIC_DEB_DIR}/prerm
    ${NITRIC_DEB_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
