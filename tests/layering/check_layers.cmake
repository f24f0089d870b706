# check_layers.cmake — the layers hold: run by ctest as
#   cmake -DSRC=<source dir> -DBIN=<build dir> -DCC=<C compiler> -DLAYERS=<l1:uses,l2:uses|uses,...> -P check_layers.cmake
# with the layers bottom up, each with the layers it uses directly.
# 1. Every #include "folder/..." in a source file of a layer names its own folder
#    or a layer it may use (the closure of what it uses), in every file, whether
#    this build compiles it or not (.cu and .cpp included).
# 2. The build enforces it: for each layer, a header of every layer it may not
#    use fails to compile with that layer's include path (build/layers/<used>),
#    while a header of its own folder compiles with the same path.
# 3. base/, kernels/ and engine/ know nothing of the command line: no string in
#    their code names a flag ("--kv-budget"); the command line (app/) adds that.
cmake_minimum_required(VERSION 3.22)

set(all_layers "")
string(REPLACE "," ";" LAYERS "${LAYERS}")
foreach(entry ${LAYERS})
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 layer)
  list(LENGTH parts n)
  set(direct "")
  if(n GREATER 1)
    list(GET parts 1 uses)
    string(REPLACE "|" ";" direct "${uses}")
  endif()
  set(uses_${layer} ${direct})
  list(APPEND all_layers ${layer})
endforeach()

# the closure of what each layer uses (layers are listed bottom up)
foreach(layer ${all_layers})
  set(closure ${uses_${layer}})
  foreach(dep ${uses_${layer}})
    list(APPEND closure ${closure_${dep}})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set(closure_${layer} ${closure})
endforeach()

# 1. the includes, file by file
set(bad "")
set(n_checked 0)
foreach(layer ${all_layers})
  file(GLOB_RECURSE files "${SRC}/${layer}/*.c" "${SRC}/${layer}/*.h" "${SRC}/${layer}/*.cu"
       "${SRC}/${layer}/*.cuh" "${SRC}/${layer}/*.cpp" "${SRC}/${layer}/*.hpp")
  foreach(f ${files})
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line ${lines})
      math(EXPR n_checked "${n_checked} + 1")
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" inc "${line}")
      if(inc MATCHES "^\\.\\./" OR inc MATCHES "/\\.\\./")
        list(APPEND bad "${f}: ${inc} (a path up and out of the folder)")
        continue()
      endif()
      if(NOT inc MATCHES "/")
        list(APPEND bad "${f}: ${inc} (name the folder: ${layer}/...)")
        continue()
      endif()
      string(REGEX REPLACE "/.*" "" folder "${inc}")
      list(FIND all_layers "${folder}" is_layer_folder)
      if(is_layer_folder LESS 0)
        list(APPEND bad "${f}: ${inc} (no such layer: ${folder})")
        continue()
      endif()
      list(FIND closure_${layer} "${folder}" allowed)
      if(NOT folder STREQUAL layer AND allowed LESS 0)
        list(APPEND bad "${f}: ${inc} (${layer} may use only: ${closure_${layer}})")
      endif()
    endforeach()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " msg "${bad}")
  message(FATAL_ERROR "includes that cross the layers upward:\n  ${msg}")
endif()
message(STATUS "${n_checked} includes checked: each within its layer or a layer below")

# 2. the build refuses an include of a layer above: one probe per (layer, forbidden layer)
set(probe_dir "${BIN}/layering-probes")
file(REMOVE_RECURSE "${probe_dir}")
file(MAKE_DIRECTORY "${probe_dir}")

# Compiles a file holding #include of the first header of folder with flags;
# rc and out: the compiler's status and messages.
function(probe name folder flags)
  file(GLOB headers RELATIVE "${SRC}" "${SRC}/${folder}/*.h")
  list(GET headers 0 header)
  file(WRITE "${probe_dir}/${name}.c" "#include \"${header}\"\nint is_probe;\n")
  execute_process(COMMAND ${CC} -fsyntax-only ${flags} "${probe_dir}/${name}.c"
                  RESULT_VARIABLE rc ERROR_VARIABLE out OUTPUT_VARIABLE out)
  set(rc ${rc} PARENT_SCOPE)
  set(out "${header}: ${out}" PARENT_SCOPE)
endfunction()

set(n_probes 0)
foreach(layer ${all_layers})
  set(flags "-I${BIN}/layers/${layer}")
  foreach(dep ${closure_${layer}})
    list(APPEND flags "-I${BIN}/layers/${dep}")
  endforeach()
  # a header of the layer's own folder compiles with this path: the probe can see
  probe(${layer}-own ${layer} "${flags}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${layer}: its own header does not compile with its include path: ${out}")
  endif()
  foreach(other ${all_layers})
    list(FIND closure_${layer} "${other}" allowed)
    if(other STREQUAL layer OR allowed GREATER -1)
      continue()
    endif()
    probe(${layer}-uses-${other} ${other} "${flags}")
    # the missing-header error as GCC and clang word it
    if(rc EQUAL 0 OR NOT out MATCHES "No such file or directory|file not found")
      message(FATAL_ERROR "${layer} can include a header of ${other}, a layer it may not use: ${out}")
    endif()
    math(EXPR n_probes "${n_probes} + 1")
  endforeach()
endforeach()
message(STATUS "${n_probes} upward includes refused by the build's include paths")

# 3. no flag in a string of the layers under the command line
set(bad "")
foreach(layer base kernels engine)
  file(GLOB_RECURSE files "${SRC}/${layer}/*.c" "${SRC}/${layer}/*.h" "${SRC}/${layer}/*.cu"
       "${SRC}/${layer}/*.cuh" "${SRC}/${layer}/*.cpp")
  foreach(f ${files})
    file(STRINGS "${f}" lines REGEX "--[a-z]")
    foreach(line ${lines})
      if(line MATCHES "^[ \t]*(//|\\*|/\\*)")
        continue() # a comment line
      endif()
      string(REGEX MATCHALL "\"[^\"]*\"" literals "${line}")
      foreach(lit ${literals})
        if(lit MATCHES "(^\"|[ (])--[a-z]")
          list(APPEND bad "${f}: ${lit}")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " msg "${bad}")
  message(FATAL_ERROR "strings that name command-line flags under the command line (say what the option is; app/ names the flag):\n  ${msg}")
endif()
message(STATUS "base, kernels and engine: no string names a command-line flag")
