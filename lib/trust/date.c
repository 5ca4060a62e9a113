/*
 * date.c - SPKI dates (YYYY-MM-DD_HH:MM:SS, UTC), relative CLI times, and
 * validity intervals.
 *
 * Conversion uses the days-from-civil arithmetic on the proleptic Gregorian
 * calendar, so it depends on neither the time zone nor the C library.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/cert.h"

enum {
    SEC_PER_MIN = 60,
    SEC_PER_HOUR = 3600,
    SEC_PER_DAY = 86400,
    SEC_PER_WEEK = 7 * 86400,
    YEAR_MIN = 1970,
    YEAR_MAX = 9999,
};

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* n decimal digits at p; -1 if any is not a digit. */
static int digits(const uint8_t *p, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int vpxi_date_parse(const uint8_t *p, size_t len, int64_t *t)
{
    int y, mo, d, h, mi, s;

    *t = 0;
    if (len != VPXI_DATE_LEN || p[4] != '-' || p[7] != '-' || p[10] != '_' || p[13] != ':' ||
        p[16] != ':')
        return VPXI_ERR_BAD_FORMAT;
    y = digits(p, 4);
    mo = digits(p + 5, 2);
    d = digits(p + 8, 2);
    h = digits(p + 11, 2);
    mi = digits(p + 14, 2);
    s = digits(p + 17, 2);
    if (y < YEAR_MIN || y > YEAR_MAX || mo < 1 || mo > 12 || d < 1 ||
        (unsigned)d > month_days(y, (unsigned)mo) || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        s < 0 || s > 59)
        return VPXI_ERR_BAD_FORMAT;
    *t = days_from_civil(y, (unsigned)mo, (unsigned)d) * SEC_PER_DAY + h * SEC_PER_HOUR +
         mi * SEC_PER_MIN + s;
    return 0;
}

void vpxi_date_format(int64_t t, char out[static VPXI_DATE_LEN + 1])
{
    int64_t days, rem, y;
    unsigned m, d;

    /* Clamp to the representable range rather than print garbage. */
    if (t < 0)
        t = 0;
    if (t > days_from_civil(YEAR_MAX, 12, 31) * SEC_PER_DAY + SEC_PER_DAY - 1)
        t = days_from_civil(YEAR_MAX, 12, 31) * SEC_PER_DAY + SEC_PER_DAY - 1;
    days = t / SEC_PER_DAY;
    rem = t % SEC_PER_DAY;
    civil_from_days(days, &y, &m, &d);
    {
        unsigned hh = (unsigned)(rem / SEC_PER_HOUR) % 24, mm = (unsigned)(rem / 60) % 60,
                 ss = (unsigned)rem % 60, yy = (unsigned)y % 10000;
        snprintf(out, VPXI_DATE_LEN + 1, "%04u-%02u-%02u_%02u:%02u:%02u", yy, m % 100, d % 100, hh,
                 mm, ss);
    }
}

int vpxi_time_parse(const char *s, int64_t now, int64_t *t)
{
    long long v;
    char *end;
    int64_t unit;

    *t = 0;
    if (!strcmp(s, "now")) {
        *t = now;
        return 0;
    }
    if (s[0] != '+' && s[0] != '-')
        return vpxi_date_parse((const uint8_t *)s, strlen(s), t);
    if (!isdigit((unsigned char)s[1]))
        return VPXI_ERR_BAD_FORMAT;
    v = strtoll(s + 1, &end, 10);
    switch (*end) {
    case 's': unit = 1; break;
    case 'm': unit = SEC_PER_MIN; break;
    case 'h': unit = SEC_PER_HOUR; break;
    case 'd': unit = SEC_PER_DAY; break;
    case 'w': unit = SEC_PER_WEEK; break;
    default: return VPXI_ERR_BAD_FORMAT;
    }
    if (end[1] != '\0' || v < 0 || v > 100LL * 366 * SEC_PER_DAY / unit)
        return VPXI_ERR_BAD_FORMAT;
    *t = s[0] == '+' ? now + v * unit : now - v * unit;
    return 0;
}

int vpxi_validity_intersect(const struct vpxi_validity *a, const struct vpxi_validity *b,
                            struct vpxi_validity *out)
{
    struct vpxi_validity v;

    v.not_before = a->not_before > b->not_before ? a->not_before : b->not_before;
    v.not_after = a->not_after < b->not_after ? a->not_after : b->not_after;
    if (v.not_before > v.not_after)
        return VPXI_ERR_VALIDITY_EMPTY;
    *out = v;
    return 0;
}

int vpxi_validity_check(const struct vpxi_validity *v, int64_t now)
{
    if (now < v->not_before)
        return VPXI_ERR_NOT_YET_VALID;
    if (now > v->not_after)
        return VPXI_ERR_EXPIRED;
    return 0;
}
