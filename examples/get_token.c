/*
 * get_token: prints the WeChat access_token, from the shared cache files
 * when fresh, else fetched once and stored there.
 *
 *   cc get_token.c $(pkg-config --cflags --libs wxtoken) -o get_token
 *   WX_APPID=wx... WX_APPSECRET=... ./get_token
 *
 * Reads WX_APPID and WX_APPSECRET, and the optional WX_TOKEN_FILE and
 * WX_EXPIRY_FILE (default token.txt / expiry.txt); libwxtoken itself reads
 * the other WX_* settings (WX_API_BASE, WX_PASSIVE, ...).
 * Exit status: 0 with the token on stdout, 1 with the reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include <wxtoken.h>

int main(void)
{
    const char *appid = getenv("WX_APPID");
    const char *secret = getenv("WX_APPSECRET");
    char token[WX_TOKEN_BUF_LEN];
    char why[256];
    int rc;

    if (appid == NULL || secret == NULL) {
        fprintf(stderr, "get_token: set WX_APPID and WX_APPSECRET\n");
        return 1;
    }
    /* NULL files would do the same: the library then reads WX_TOKEN_FILE /
     * WX_EXPIRY_FILE itself. Passing them shows where the arguments go. */
    rc = wx_get_token(appid, secret, getenv("WX_TOKEN_FILE"),
                      getenv("WX_EXPIRY_FILE"), token, sizeof token);
    if (rc != WX_OK) {
        wx_last_error(why, sizeof why); /* never contains the secret */
        if (wx_last_errcode() != 0)
            fprintf(stderr, "get_token: %s (WeChat errcode %ld): %s\n",
                    wx_status_name(rc), wx_last_errcode(), why);
        else
            fprintf(stderr, "get_token: %s: %s\n", wx_status_name(rc), why);
        return 1;
    }
    puts(token);
    return 0;
}
