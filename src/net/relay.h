/* The raw TCP relay (--relay-listen HOST:PORT, off by default): a plain TCP
 * listener whose clients speak the line protocol of proto/relay_line.h. Each
 * connection is a subscriber like any other (a stream with the relay
 * transport) whose channel set changes at run time with sub / unsub lines, and
 * it has a client id that POST /pub/@id reaches. An idle relay client holds no
 * buffer: input is read into the server's shared slab, and only a partial line
 * is kept.
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_RELAY_H
#define CR_NET_RELAY_H

#include "net/server.h"

/* Binds and listens on cfg.relay_host:relay_port. 0 or a negative code (logged). */
int cr_relay_listen(cr_server_t *srv);
/* Stops accepting relay clients (open ones close with the server's connections). */
void cr_relay_stop(cr_server_t *srv);

#endif
