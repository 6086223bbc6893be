/*
 * Socket options shared by the relay and the enabler.
 */
#ifndef DRAWBRIDGE_NET_H
#define DRAWBRIDGE_NET_H

/* Turns off Nagle's algorithm on FD, so that small frames and response
 * heads leave at once instead of waiting for the peer's delayed ACK (up to
 * 40 ms on Linux). Errors are ignored: FD keeps working, only slower. */
void net_set_nodelay(int fd);

#endif
