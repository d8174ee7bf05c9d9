/* testing.h - includes cmocka with the system headers it needs, in the order it needs them. */
#ifndef BERTH_TESTS_TESTING_H
#define BERTH_TESTS_TESTING_H

/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#endif
