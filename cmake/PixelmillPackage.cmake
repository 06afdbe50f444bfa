# `cpack` (or `cmake --build build --target package`): build/pixelmill_<version>_<arch>.deb.
#
# The package holds what `cmake --install` lays out, under /usr (bin/pixelmill,
# lib/pixelmill/plugins, the SDK in include/ and lib/cmake, share/pixelmill),
# plus what only a system package has: the systemd unit in
# /usr/lib/systemd/system, /etc/pixelmill/pixelmill.toml as a conffile, and
# maintainer scripts that create the pixelmill system user and
# /var/lib/pixelmill. dpkg-shlibdeps derives the library dependencies from
# the binary and the plugins. Included last, once every install() is known.

# The unit as the package ships it: the binary under /usr, and the fixed user
# the maintainer scripts create (it owns /var/lib/pixelmill across upgrades
# and backups) instead of a dynamic one.
set(PIXELMILL_DEB_PREFIX /usr)
file(READ ${PROJECT_SOURCE_DIR}/packaging/pixelmill.service pixelmill_unit)
# Its opening comment is about installing from source: the package's says what it is.
string(FIND "${pixelmill_unit}" "[Unit]" pixelmill_unit_start)
string(SUBSTRING "${pixelmill_unit}" ${pixelmill_unit_start} -1 pixelmill_unit)
string(PREPEND pixelmill_unit
"# systemd unit for the pixelmill daemon, as the Debian package installs it
# (packaging/pixelmill.service, with the package's paths and user).
# Change it with `systemctl edit pixelmill`; options go in
# /etc/pixelmill/pixelmill.toml. Secrets (PIXELMILL_WEBHOOK_SECRET=…) go in
# /etc/pixelmill/pixelmill.env, mode 0600, owned by root.

")
string(REPLACE "/usr/local/" "${PIXELMILL_DEB_PREFIX}/" pixelmill_unit "${pixelmill_unit}")
string(REGEX REPLACE "\n(#[^\n]*\n)*DynamicUser=yes\n"
       "\n# The pixelmill system user, which the package's maintainer scripts create;\n# it owns /var/lib/pixelmill.\nUser=pixelmill\nGroup=pixelmill\n"
       pixelmill_unit "${pixelmill_unit}")
if(NOT pixelmill_unit MATCHES "\nUser=pixelmill\n")
  message(FATAL_ERROR "packaging/pixelmill.service: no DynamicUser=yes line to replace for the package")
endif()
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/deb/pixelmill.service CONTENT "${pixelmill_unit}" @ONLY)

# Only in the package: a plain `cmake --install` leaves /etc and systemd alone.
install(FILES ${PROJECT_BINARY_DIR}/deb/pixelmill.service DESTINATION lib/systemd/system
        COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES packaging/pixelmill.toml DESTINATION /etc/pixelmill COMPONENT deb EXCLUDE_FROM_ALL)

# Every component in one package, the deb-only one included.
get_cmake_property(pixelmill_components COMPONENTS)
set(CPACK_COMPONENTS_ALL ${pixelmill_components})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)

set(CPACK_GENERATOR DEB)
# DESTDIR staging, so that /etc/pixelmill lands where it belongs.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX ${PIXELMILL_DEB_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_NAME pixelmill)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "pixelmill maintainers <pixelmill@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Asynchronous image and PDF derivatives over HTTP\n pixelmill turns uploaded images and PDFs into thumbnails, resized images,\n ASCII art and PNG pages, from plugins loaded as shared objects.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# useradd and groupadd for the maintainer scripts.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
