/* curlx.h - libcurl, loaded on first use.
 *
 * berth is one binary, and the workspace agent must stay small: linking libcurl directly would
 * load it and its dependencies (OpenSSL, GnuTLS, Kerberos, LDAP, ...) into every process,
 * agents included. Files that use libcurl include this header instead of <curl/curl.h>; calls
 * look the same but go through a table filled by dlopen("libcurl.so.4") the first time one is
 * made. If the library cannot be loaded the process exits with a message naming the package.
 * Thread-safe.
 */
#ifndef BERTH_BASE_CURLX_H
#define BERTH_BASE_CURLX_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#define CURLX_FUNCS(X)                                                                             \
    X(curl_easy_cleanup)                                                                           \
    X(curl_easy_getinfo)                                                                           \
    X(curl_easy_init)                                                                              \
    X(curl_easy_perform)                                                                           \
    X(curl_easy_reset)                                                                             \
    X(curl_easy_setopt)                                                                            \
    X(curl_easy_strerror)                                                                          \
    X(curl_global_init)                                                                            \
    X(curl_global_cleanup)                                                                         \
    X(curl_share_cleanup)                                                                          \
    X(curl_share_init)                                                                             \
    X(curl_share_setopt)                                                                           \
    X(curl_slist_append)                                                                           \
    X(curl_slist_free_all)

struct curlx {
#define CURLX_MEMBER(f) __typeof__(&f) f;
    CURLX_FUNCS(CURLX_MEMBER)
#undef CURLX_MEMBER
};

/* The loaded table (loads on the first call). */
const struct curlx *curlx(void);

#ifndef CURLX_IMPL
#undef curl_easy_getinfo /* curl.h's argument-count guards */
#undef curl_easy_setopt
#undef curl_share_setopt
#define curl_easy_cleanup   (curlx()->curl_easy_cleanup)
#define curl_easy_getinfo   (curlx()->curl_easy_getinfo)
#define curl_easy_init      (curlx()->curl_easy_init)
#define curl_easy_perform   (curlx()->curl_easy_perform)
#define curl_easy_reset     (curlx()->curl_easy_reset)
#define curl_easy_setopt    (curlx()->curl_easy_setopt)
#define curl_easy_strerror  (curlx()->curl_easy_strerror)
#define curl_global_init    (curlx()->curl_global_init)
#define curl_global_cleanup (curlx()->curl_global_cleanup)
#define curl_share_cleanup  (curlx()->curl_share_cleanup)
#define curl_share_init     (curlx()->curl_share_init)
#define curl_share_setopt   (curlx()->curl_share_setopt)
#define curl_slist_append   (curlx()->curl_slist_append)
#define curl_slist_free_all (curlx()->curl_slist_free_all)
#endif

#endif
