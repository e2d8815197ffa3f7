/* HTTP/1.1 response head and chunk writing.
 * SPDX-License-Identifier: MIT */
#include "proto/http1_write.h"

#include <string.h>
#include <time.h>

#include "core/err.h"

const char *cr_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void cr_http1_status_line(cr_buf_t *out, int status)
{
    cr_buf_printf(out, "HTTP/1.1 %d %s\r\n", status, cr_http_reason(status));
}

void cr_http1_header(cr_buf_t *out, const char *name, const char *value, size_t len)
{
    cr_buf_puts(out, name);
    cr_buf_append(out, ": ", 2);
    cr_buf_reserve(out, len + 2);
    for (size_t i = 0; i < len; i++)
        if (value[i] != '\r' && value[i] != '\n')
            out->data[out->len++] = value[i];
    cr_buf_append(out, "\r\n", 2);
}

void cr_http1_header_str(cr_buf_t *out, const char *name, const char *value)
{
    cr_http1_header(out, name, value, strlen(value));
}

void cr_http1_header_u64(cr_buf_t *out, const char *name, uint64_t value)
{
    cr_buf_printf(out, "%s: %llu\r\n", name, (unsigned long long)value);
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void cr_http1_date(cr_buf_t *out, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    cr_buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int num(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CR_EPARAM;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int cr_http1_date_parse(const char *s, size_t len, int64_t *t)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT" is exactly 29 bytes. */
    if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return CR_EPARAM;
    int day, year, hh, mm, ss, mon = -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months[i], 3) == 0)
            mon = i;
    if (mon < 0 || num(s + 5, 2, &day) || num(s + 12, 4, &year) || num(s + 17, 2, &hh) ||
        num(s + 20, 2, &mm) || num(s + 23, 2, &ss) || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 ||
        year < 1970)
        return CR_EPARAM;
    /* Days from the civil date (proleptic Gregorian), to avoid timegm's locale and TZ. */
    int y = year - (mon < 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int mp = (mon + 10) % 12; /* months counted from March, so the leap day ends the year */
    int doy = (153 * mp + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days_since = (int64_t)era * 146097 + doe - 719468;
    *t = days_since * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

void cr_http1_chunk(cr_buf_t *out, const char *data, size_t len)
{
    cr_buf_printf(out, "%zx\r\n", len);
    cr_buf_append(out, data, len);
    cr_buf_append(out, "\r\n", 2);
}
