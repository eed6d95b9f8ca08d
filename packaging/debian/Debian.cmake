# The Debian package (GW_DEBIAN_LAYOUT=ON; scripts/package.sh configures it): install rules of the
# files only Debian needs, and CPack's DEB generator.
#
# CPack rather than debhelper: the build already is CMake, dpkg-shlibdeps computes Depends through
# CPACK_DEBIAN_PACKAGE_SHLIBDEPS, and a debian/ source package would rebuild the whole tree under
# dpkg-buildpackage in CI. What debhelper would add by itself (Debian's compiler hardening flags,
# stripping, changelog.Debian.gz, copyright, md5sums, conffiles) is done here and in package.sh.
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  # The plugin's default ScriptDirectories is compiled in from the prefix (core/CMakeLists.txt).
  message(FATAL_ERROR "GW_DEBIAN_LAYOUT needs -DCMAKE_INSTALL_PREFIX=/usr (now ${CMAKE_INSTALL_PREFIX})")
endif()

set(GW_DEB_REVISION 1 CACHE STRING "Debian revision of the package (the part of the version after '-')")
set(GW_DEB_MAINTAINER "DICOMweb OAuth Gateway maintainers <maintainers@users.noreply.b-seed-f43df8f4.example>"
    CACHE STRING "Maintainer field of the package")
set(gw_deb_name dicomweb-oauth-gateway)
set(gw_deb_version ${PROJECT_VERSION}-${GW_DEB_REVISION})
set(gw_deb_src ${CMAKE_CURRENT_LIST_DIR})
set(gw_deb_out ${CMAKE_BINARY_DIR}/debian)
set(gw_doc share/doc/${gw_deb_name})
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# The example configuration: a conffile (dpkg keeps the operator's edits across upgrades) whose only
# active content is `{}`, so the plugin loads idle ("no DicomWebOAuth section") until a server is added.
install(FILES ${gw_deb_src}/dicomweb-oauth.json DESTINATION /etc/orthanc)
file(WRITE ${gw_deb_out}/conffiles "/etc/orthanc/dicomweb-oauth.json\n")

# changelog.Debian.gz: packaging/debian/changelog, with an entry of its own prepended when the version
# being built is not its first entry (e.g. a rebuild with another GW_DEB_REVISION), so that the
# changelog always names the packaged version.
file(READ ${gw_deb_src}/changelog gw_changelog)
string(REPLACE "." "\\." gw_version_re "${gw_deb_version}")
if(NOT gw_changelog MATCHES "^${gw_deb_name} \\(${gw_version_re}\\) ")
  string(TIMESTAMP gw_now "%a, %d %b %Y %H:%M:%S +0000" UTC)
  set(gw_changelog "${gw_deb_name} (${gw_deb_version}) bookworm; urgency=medium\n\n  * Rebuild as ${gw_deb_version}.\n\n -- ${GW_DEB_MAINTAINER}  ${gw_now}\n\n${gw_changelog}")
endif()
file(WRITE ${gw_deb_out}/changelog.Debian "${gw_changelog}")
execute_process(COMMAND gzip -9nf ${gw_deb_out}/changelog.Debian RESULT_VARIABLE gw_rc)
execute_process(COMMAND gzip -9nc ${gw_deb_src}/dicomweb-oauth.1 OUTPUT_FILE ${gw_deb_out}/dicomweb-oauth.1.gz
                RESULT_VARIABLE gw_rc2)
if(NOT gw_rc EQUAL 0 OR NOT gw_rc2 EQUAL 0)
  message(FATAL_ERROR "gzip failed while preparing the Debian doc files")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${gw_deb_src}/changelog ${gw_deb_src}/dicomweb-oauth.1)
install(FILES ${gw_deb_out}/changelog.Debian.gz ${gw_deb_src}/copyright ${gw_deb_src}/README.Debian
        DESTINATION ${gw_doc})
install(FILES ${gw_deb_out}/dicomweb-oauth.1.gz DESTINATION share/man/man1)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${gw_deb_name})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_CONTACT "${GW_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_RELEASE ${GW_DEB_REVISION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <name>_<version>-<revision>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)  # where Debian files orthanc and its plugins
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "OAuth2 and cloud identity for Orthanc's DICOMweb client")
# The long description only: CPack puts the summary on the Description line itself.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "This Orthanc plugin lets an unmodified Orthanc talk to DICOMweb services that
need OAuth2 or cloud identity (Azure Health Data Services, Google Cloud
Healthcare, AWS HealthImaging, any DICOMweb server behind Keycloak, Okta,
Auth0 or Entra ID). It acquires, caches, refreshes and injects the
credentials, or signs and forwards each request. Identity providers, routing
policies and audit rules are sandboxed Lua 5.4 scripts.
.
The package installs the plugin next to Debian's orthanc-dicomweb, the Lua
scripts, the operator command dicomweb-oauth and an example configuration
that keeps the plugin idle until a server is configured.")
# Depends: what dpkg-shlibdeps finds for the .so and the CLI, plus the Orthanc packages it plugs into
# (1.9.2: OrthancPluginCallRestApi; the plugin checks the running version as well).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "orthanc (>= 1.9.2), orthanc-dicomweb")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${gw_deb_out}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
include(CPack)
