# Fails when a daemon source includes a header from a layer above its own.
#
#   cmake -DROOT=<source dir> -P cmake/CheckLayers.cmake
#
# Calls go one way (ARCHITECTURE.md): http -> jobs -> store / scheduler ->
# executor -> plugin host; the domain types (jobs/model) sit below them all;
# common/ and metrics/ serve every layer. Each folder of daemon/ is a module;
# LAYER_<module> lists the modules its files may include besides their own.
# A file belongs to the longest folder that holds it, so store/sqlite/ is not
# store/. Includes of anything outside daemon/ (system, SDK, third-party) are
# not checked here; a relative "../" include is refused outright, since it
# would step around the check. Plugins under plugins/ are built without the
# daemon's include root, so a daemon header fails their build; here they are
# only held to no "../" includes (plugins/common is a target of its own).

set(MODULES
  common config metrics jobs/model jobs
  store store/fs store/sqlite store/postgres
  scheduler notify plugins worker
  http http/server http/api http/compat http/docs http/dashboard
  app)

set(BASE common metrics)
set(LAYER_common)
set(LAYER_config common)
set(LAYER_metrics common)
set(LAYER_jobs/model common)
set(LAYER_store ${BASE} jobs/model)
set(LAYER_store/fs ${BASE} jobs/model store)
set(LAYER_store/sqlite ${BASE} jobs/model store store/fs)
set(LAYER_store/postgres ${BASE} jobs/model store store/fs)
set(LAYER_jobs ${BASE} jobs/model store)
set(LAYER_scheduler ${BASE} jobs/model jobs store)
set(LAYER_notify ${BASE} jobs/model jobs store)
set(LAYER_plugins ${BASE} jobs/model jobs scheduler)
# A worker writes its outputs straight into the blob files.
set(LAYER_worker ${BASE} jobs/model jobs store store/fs scheduler plugins)
# http/ itself holds what ties its parts together (the services they call).
set(HTTP_BELOW ${BASE} config jobs/model jobs store)
set(LAYER_http ${HTTP_BELOW} http/server http/api http/compat http/docs http/dashboard)
set(LAYER_http/server ${HTTP_BELOW} http)
set(LAYER_http/api ${HTTP_BELOW} http http/server)
set(LAYER_http/compat ${HTTP_BELOW} http http/server http/api)
set(LAYER_http/docs ${HTTP_BELOW} http http/server http/api)
set(LAYER_http/dashboard ${HTTP_BELOW} http http/server http/api)
set(LAYER_app ${MODULES})

# Headers only their own module may include.
set(PRIVATE_HEADERS
  http/server/body_handoff.h  # routes get the body as an argument, never from a thread-local
)

# Longest prefix first, so a file lands in its innermost module.
set(BY_LENGTH)
foreach(module ${MODULES})
  string(LENGTH "${module}" length)
  math(EXPR key "1000 - ${length}")
  list(APPEND BY_LENGTH "${key}|${module}")
endforeach()
list(SORT BY_LENGTH)
list(TRANSFORM BY_LENGTH REPLACE "^[0-9]+\\|" "")

# The module a path under daemon/ belongs to, or "" when it is in none.
function(module_of path out)
  set(${out} "" PARENT_SCOPE)
  if(path STREQUAL "main.cpp")
    set(${out} app PARENT_SCOPE)
    return()
  endif()
  foreach(module ${BY_LENGTH})
    string(FIND "${path}" "${module}/" at)
    if(at EQUAL 0)
      set(${out} ${module} PARENT_SCOPE)
      return()
    endif()
  endforeach()
endfunction()

function(quoted_includes file out)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  set(found)
  foreach(line ${lines})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" header "${line}")
    list(APPEND found "${header}")
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

set(violations)
file(GLOB_RECURSE sources RELATIVE "${ROOT}/daemon" "${ROOT}/daemon/*.h" "${ROOT}/daemon/*.cpp")
foreach(source ${sources})
  module_of("${source}" owner)
  if(owner STREQUAL "")
    list(APPEND violations "daemon/${source}: in no module; add its folder to cmake/CheckLayers.cmake")
    continue()
  endif()
  quoted_includes("${ROOT}/daemon/${source}" headers)
  foreach(header ${headers})
    if(header MATCHES "^\\.\\./|/\\.\\./")
      list(APPEND violations "daemon/${source}: relative include \"${header}\"")
      continue()
    endif()
    module_of("${header}" target)
    list(FIND PRIVATE_HEADERS "${header}" private)
    if(NOT private EQUAL -1 AND NOT target STREQUAL owner)
      list(APPEND violations "daemon/${source} (${owner}) includes \"${header}\", private to ${target}")
      continue()
    endif()
    if(target STREQUAL "" OR target STREQUAL owner)
      continue()
    endif()
    list(FIND LAYER_${owner} "${target}" allowed)
    if(allowed EQUAL -1)
      list(APPEND violations "daemon/${source} (${owner}) includes \"${header}\" (${target}), a layer it may not use")
    endif()
  endforeach()
endforeach()

file(GLOB_RECURSE plugin_sources RELATIVE "${ROOT}/plugins" "${ROOT}/plugins/*.h" "${ROOT}/plugins/*.hpp"
     "${ROOT}/plugins/*.cpp")
foreach(source ${plugin_sources})
  quoted_includes("${ROOT}/plugins/${source}" headers)
  foreach(header ${headers})
    if(header MATCHES "^\\.\\./|/\\.\\./")
      list(APPEND violations "plugins/${source}: relative include \"${header}\" (plugins/common is the target pixelmill::plugin-common)")
    endif()
  endforeach()
endforeach()

if(violations)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "includes against the layers:\n  ${text}")
endif()
list(LENGTH sources checked)
message(STATUS "layers: ${checked} daemon files include only their own layer and those below it")
