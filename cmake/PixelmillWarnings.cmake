# Warnings as errors on pixelmill's own targets only; third-party headers come
# in as SYSTEM includes through their imported targets.
function(pixelmill_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
    -Wno-missing-field-initializers)
endfunction()
