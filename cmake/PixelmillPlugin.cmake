# pixelmill_add_plugin(<name> SOURCES ... [LIBRARIES ...] [OUTPUT_DIR dir] [INSTALL])
# Builds <name>.so with hidden visibility, so that pixelmill_plugin_v1 is the
# only exported symbol. INSTALL puts it in lib/pixelmill/plugins, where an
# installed daemon looks. Installed with the SDK for out-of-tree plugins too.
function(pixelmill_add_plugin name)
  cmake_parse_arguments(ARG "INSTALL" "OUTPUT_DIR" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_OUTPUT_DIR AND DEFINED PIXELMILL_PLUGIN_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR ${PIXELMILL_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR})
  endif()
  target_link_libraries(${name} PRIVATE pixelmill::plugin-sdk ${ARG_LIBRARIES})
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
  if(COMMAND pixelmill_warnings)
    pixelmill_warnings(${name})
  endif()
  if(ARG_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION lib/pixelmill/plugins)
  endif()
endfunction()
