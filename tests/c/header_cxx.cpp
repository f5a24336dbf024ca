// The header must be usable from C++ as it is (extern "C", no C-only
// constructs). Built with g++ -std=c++11 -Wall -Wextra -Werror and run.
#include "wxtoken.h"

#include <cstdio>
#include <cstring>

int main()
{
    char out[WX_TOKEN_BUF_LEN];
    int rc = wx_get_token(nullptr, "secret", nullptr, nullptr, out, sizeof out);
    wx_status status = static_cast<wx_status>(rc);
    if (status != WX_ERR_NULL_ARG || std::strcmp(wx_status_name(rc), "WX_ERR_NULL_ARG") != 0)
        return 1;
    char msg[64];
    std::size_t n = wx_last_error(msg, sizeof msg);
    std::printf("C++: libwxtoken %s, %s: %s (%zu bytes)\n", wx_version(),
                wx_status_name(rc), msg, n);
    return wx_reset() == WX_OK ? 0 : 1;
}
