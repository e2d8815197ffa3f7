/* One line per notable event on stderr: time, level, message. Errors name the
 * client address and the reason. The level is set once at start (--log-level).
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_LOG_H
#define CR_NET_LOG_H

typedef enum cr_log_level { CR_LOG_ERROR, CR_LOG_WARN, CR_LOG_INFO, CR_LOG_DEBUG } cr_log_level_t;

extern cr_log_level_t cr_log_level;

/* Parses "error|warn|info|debug". 0, or -1 if unknown. */
int cr_log_level_parse(const char *s, cr_log_level_t *out);
void cr_log(cr_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CR_LOG_ENABLED(lvl) ((lvl) <= cr_log_level)

#endif
