// The header must be usable from C++ as it is (extern "C", no C-only
// constructs). Built with g++ -std=c++11 -Wall -Wextra -Werror and run:
// the per-arguments calls and the handles, without a network (every call
// here fails before any fetch).
#include "wxtoken.h"

#include <cstdio>
#include <cstring>

static int logged;

static void on_log(void *userdata, int level, const char *message)
{
    (void)level;
    (void)message;
    ++*static_cast<int *>(userdata);
}

int main()
{
    char out[WX_TOKEN_BUF_LEN];
    int rc = wx_get_token(nullptr, "secret", nullptr, nullptr, out, sizeof out);
    wx_status status = static_cast<wx_status>(rc);
    if (status != WX_ERR_NULL_ARG || std::strcmp(wx_status_name(rc), "WX_ERR_NULL_ARG") != 0)
        return 1;
    char msg[256];
    std::size_t n = wx_last_error(msg, sizeof msg);
    std::printf("C++: libwxtoken %s, %s: %s (%zu bytes)\n", wx_version(),
                wx_status_name(rc), msg, n);

    // Handles: a builder, a refused setting, a refused value, the callback.
    wx_log_fn fn = on_log;
    wx_set_log_callback(fn, &logged);
    wx_config_builder *b = wx_config_builder_new();
    if (b == nullptr || wx_config_builder_set(b, "WX_APPID", "wx_cxx") != WX_OK ||
        wx_config_builder_set(b, "WX_PASSIVE", "1") != WX_OK)
        return 1;
    if (wx_config_builder_set(b, "WX_NOT_A_SETTING", "1") != WX_ERR_CONFIG)
        return 1;
    wx_config_builder_set(b, "WX_HTTP_TIMEOUT", "abc");
    wx_cache *c = nullptr;
    rc = wx_cache_new(b, &c);
    wx_last_error(msg, sizeof msg);
    std::printf("C++: wx_cache_new: %s: %s\n", wx_status_name(rc), msg);
    if (rc != WX_ERR_CONFIG || c != nullptr || std::strstr(msg, "WX_HTTP_TIMEOUT") == nullptr)
        return 1;
    wx_config_builder_set(b, "WX_HTTP_TIMEOUT", nullptr);
    wx_config_builder_set(b, "WX_TOKEN_FILE", "/proc/wxtoken-cxx/token.txt");
    if (wx_cache_new(b, &c) != WX_OK)
        return 1;
    wx_config_builder_free(b);
    rc = wx_cache_get_token(c, out, sizeof out);
    if (rc != WX_ERR_PASSIVE || wx_cache_get_ticket(c, "wx_card", out, sizeof out) >= 0 ||
        wx_cache_invalidate(c, "t") < 0)
        return 1;
    wx_cache_free(c);
    wx_set_log_callback(nullptr, nullptr);
    std::printf("C++: %d log messages, levels %d/%d\n", logged, WX_LOG_ERROR, WX_LOG_WARNING);
    // Passive with nothing cached: at least once for the token, once for
    // the ticket (the unwritable directory may add a warning).
    return wx_reset() == WX_OK && logged >= 2 ? 0 : 1;
}
