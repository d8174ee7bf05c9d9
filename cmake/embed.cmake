# berth_embed_files: turns a set of files into a C source file holding their contents as
# `const struct embedded_file SYMBOL[]` (terminated by an entry with a NULL path) and
# `const size_t SYMBOL_count`. Paths are relative to BASE; the file mode's executable bit is kept.
function(berth_embed_files)
  cmake_parse_arguments(E "" "OUTPUT;SYMBOL;BASE" "FILES" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${E_OUTPUT} -DSYMBOL=${E_SYMBOL} -DBASE=${E_BASE}
            "-DFILES=${E_FILES}" -P ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${E_FILES} ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    COMMENT "Embedding ${E_SYMBOL}"
    VERBATIM)
endfunction()
