# pixelmill_embed(<target> NAME <fn> BASE <dir> FILES <f>...)
# Compiles the files into <target> as a function
#   const std::vector<pixelmill::EmbeddedFile>& <fn>();
# of {relative path, contents}, so the daemon needs no data files at run time.
function(pixelmill_embed target)
  cmake_parse_arguments(ARG "" "NAME;BASE" "FILES" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${ARG_NAME}.cpp)
  set(inputs)
  foreach(f ${ARG_FILES})
    get_filename_component(abs ${f} ABSOLUTE)
    list(APPEND inputs ${abs})
  endforeach()
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAME=${ARG_NAME} -DBASE=${ARG_BASE}
            "-DFILES=${inputs}" -P ${PROJECT_SOURCE_DIR}/cmake/PixelmillEmbedScript.cmake
    DEPENDS ${inputs} ${PROJECT_SOURCE_DIR}/cmake/PixelmillEmbedScript.cmake
    COMMENT "Embedding ${ARG_NAME}" VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
