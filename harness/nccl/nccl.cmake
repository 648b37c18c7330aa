# nccl.cmake — included by CMakeLists.txt after the tests: ulpdiff-nccl (harness/nccl/main.c), the
# tensor-parallel all-reduce over NCCL, one process per GPU (docs/ops/tp_allreduce.md), and its
# refusal test. Built only with the CUDA backend and when NCCL is found.
# NCCL comes with some CUDA toolkits and inside PyTorch's nvidia-nccl-cu* wheel on others
# (site-packages/nvidia/.../nccl.h, libnccl.so.2, found through python3); NCCL_ROOT (a CMake or
# environment variable) points anywhere else. Without NCCL or CUDA the program is not built.
option(UD_NCCL "Build ulpdiff-nccl (tp_allreduce over NCCL, one process per GPU) when NCCL is found" ON)
set(UD_HAVE_NCCL OFF)
if(UD_NCCL AND UD_HAVE_CUDA)
  set(UD_NCCL_HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_TARGET_DIR})
  find_program(UD_PYTHON3 NAMES python3)
  if(UD_PYTHON3)
    execute_process(
      COMMAND ${UD_PYTHON3} -c "import os, nvidia\nfor root in nvidia.__path__:\n  for d, _, fs in os.walk(root):\n    if 'nccl.h' in fs or any(f.startswith('libnccl.so') for f in fs): print(os.path.dirname(d) if os.path.basename(d) in ('include', 'lib') else d)"
      OUTPUT_VARIABLE UD_NCCL_PY ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    string(REPLACE "\n" ";" UD_NCCL_PY "${UD_NCCL_PY}")
    list(APPEND UD_NCCL_HINTS ${UD_NCCL_PY})
  endif()
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${UD_NCCL_HINTS} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  # NAMES_PER_DIR: the wheel's libnccl.so.2 next to its nccl.h wins over a system libnccl.so.
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${UD_NCCL_HINTS} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(UD_HAVE_NCCL ON)
    add_executable(ulpdiff-nccl harness/nccl/main.c)
    target_include_directories(ulpdiff-nccl SYSTEM PRIVATE ${NCCL_INCLUDE_DIR})
    target_link_libraries(ulpdiff-nccl PRIVATE ud_ops ${NCCL_LIBRARY} CUDA::cudart)
    target_compile_options(ulpdiff-nccl PRIVATE ${UD_C_WARNINGS})
    target_compile_definitions(ulpdiff-nccl PRIVATE UD_VERSION="${PROJECT_VERSION}")
    add_dependencies(ulpdiff-nccl ud_git_commit)
    set_target_properties(ulpdiff-nccl PROPERTIES LINKER_LANGUAGE CUDA RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
    # Its refusal with fewer than two GPUs, and its usage errors, run anywhere it builds.
    add_test(NAME nccl_refusal COMMAND bash ${CMAKE_SOURCE_DIR}/tests/nccl/refusal.sh $<TARGET_FILE:ulpdiff-nccl>)
    set_tests_properties(nccl_refusal PROPERTIES LABELS "unit" WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    message(STATUS "ulpdiff: NCCL path enabled (${NCCL_LIBRARY}, ${NCCL_INCLUDE_DIR})")
  else()
    message(STATUS "ulpdiff: NCCL not found (set NCCL_ROOT); ulpdiff-nccl is not built")
  endif()
endif()
