# nitric_write_man_page(BINARY NAME SUMMARY OUTPUT_GZ): a section-1 manual page
# made from `BINARY --help` (shown verbatim) and `BINARY --version`, gzipped
# with -9n as Debian wants. Run at install time of the Debian package
# (cmake/NitricPackage.cmake), when the binary exists.
function(nitric_write_man_page binary name summary output_gz)
  execute_process(COMMAND ${binary} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR help STREQUAL "")
    message(FATAL_ERROR "${binary} --help failed (${rc}): cannot write its manual page")
  endif()
  execute_process(COMMAND ${binary} --version OUTPUT_VARIABLE version OUTPUT_STRIP_TRAILING_WHITESPACE)
  # roff: a backslash is \e; a line starting with . or ' is not a request.
  string(REPLACE "\\" "\\e" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(TOUPPER "${name}" title)
  string(REPLACE "-" "\\-" name_roff "${name}")
  get_filename_component(dir ${output_gz} DIRECTORY)
  get_filename_component(page ${output_gz} NAME_WLE)
  file(MAKE_DIRECTORY ${dir})
  file(WRITE ${dir}/${page}
       ".TH ${title} 1 \"\" \"${version}\" \"User Commands\"\n"
       ".SH NAME\n${name_roff} \\- ${summary}\n"
       ".SH DESCRIPTION\nThe text of\n.B ${name_roff} \\-\\-help:\n.PP\n.nf\n${help}.fi\n"
       ".SH SEE ALSO\n/usr/share/doc/nitric\\-host/README.md,\n"
       "/usr/share/nitric\\-host/nitric\\-host.toml\n")
  execute_process(COMMAND gzip -9nf ${dir}/${page} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${dir}/${page} failed")
  endif()
endfunction()
