/* c_epoll_http.c - the C reference for the benchmarks: the least an HTTP/1.1 server on one
 * epoll loop can do, to see what one thread and the kernel cost without any framework.
 *
 * One thread, epoll edge-triggered, every socket nonblocking and registered once for both
 * directions. Each request head (bytes up to "\r\n\r\n"; a body is not expected) gets
 *     HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!
 * which is byte for byte what readyloop answers to a keep-alive GET /. HTTP/1.0 heads and
 * "Connection: close" are honoured as readyloop does: HTTP/1.0 with "Connection: keep-alive"
 * gets the same answer with "Connection: keep-alive" added; a request that closes gets it with
 * "Connection: close", then the connection is closed once that answer is out. Pipelined
 * heads are answered together, one write per read; a head cut across reads is kept (on the
 * heap, only while it is incomplete) and finished by the next read. Output the peer does not
 * take is queued (on the heap, only while pending) and reading stops beyond MAX_PENDING.
 * accept() runs until EAGAIN; on EMFILE/ENFILE no new edge would come for the connections
 * already queued, so accept is retried whenever a connection has been closed.
 *
 *   cc -O2 -Wall -o c_epoll_http c_epoll_http.c
 *   c_epoll_http [port=18081] [ipv4 address=127.0.0.1]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ANSWER_BODY "Content-Length: 13\r\n\r\nHello, World!"
static const char OK_KEEP[] = "HTTP/1.1 200 OK\r\n" ANSWER_BODY;
static const char OK_KEEP10[] = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n" ANSWER_BODY;
static const char OK_CLOSE[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n" ANSWER_BODY;

enum { MAX_HEAD = 16384, MAX_PENDING = 1 << 20, READ_SIZE = 65536, BATCH_SIZE = 1 << 20, EVENTS = 256 };

struct conn {
    char *head;            /* an incomplete request head carried to the next read */
    uint32_t head_len;
    char *pend;            /* output the socket did not take yet */
    uint32_t pend_len, pend_off;
    uint8_t open;
    uint8_t closing; /* no more answers: a request asked to close, or the peer sent FIN */
    uint8_t eof;     /* the peer sent FIN */
    uint8_t shut;    /* we sent FIN after the last answer; waiting for the peer's */
    uint8_t paused;  /* reading stopped: too much output pending */
};

static struct conn *table;  /* indexed by fd */
static int table_len, epfd, lfd, accept_ready, accept_blocked, closed_some;
static char rbuf[READ_SIZE], batch[BATCH_SIZE];

static void drop(int fd) {
    struct conn *c = &table[fd];
    free(c->head);
    free(c->pend);
    memset(c, 0, sizeof *c);
    close(fd); /* the last descriptor of the socket: epoll forgets it */
    closed_some = 1;
}

/* Closing and nothing left to send: close when the peer is done too, else send our FIN and
 * wait for the peer's (closing at once could reset the connection and lose the last answer
 * when unread input is left). Returns -1 when the connection was dropped. */
static int finish(int fd) {
    struct conn *c = &table[fd];
    if (c->eof) { drop(fd); return -1; }
    if (!c->shut) { shutdown(fd, SHUT_WR); c->shut = 1; }
    return 0;
}

/* Does the header block h[0..n) (after the request line) have a "Connection" header with
 * this token? Case-insensitive, comma-separated, spaces and tabs trimmed. */
static int conn_token(const char *h, size_t n, const char *tok) {
    size_t tl = strlen(tok);
    const char *end = h + n;
    while (h < end) {
        const char *eol = memchr(h, '\n', end - h);
        const char *le = eol ? eol : end;
        if (le - h > 11 && strncasecmp(h, "connection:", 11) == 0) {
            const char *p = h + 11;
            while (p < le) {
                while (p < le && (*p == ' ' || *p == '\t' || *p == ',')) p++;
                const char *q = p;
                while (q < le && *q != ',' && *q != '\r') q++;
                const char *r = q;
                while (r > p && (r[-1] == ' ' || r[-1] == '\t')) r--;
                if ((size_t)(r - p) == tl && strncasecmp(p, tok, tl) == 0) return 1;
                p = q + (q < le);
            }
        }
        h = le + 1;
    }
    return 0;
}

/* Send b[0..n) after whatever is already pending; queue what the socket does not take.
 * Returns -1 when the connection was dropped. */
static int send_or_queue(int fd, const char *b, size_t n) {
    struct conn *c = &table[fd];
    if (c->pend_len == c->pend_off) {
        while (n) {
            ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                drop(fd);
                return -1;
            }
            b += w;
            n -= (size_t)w;
        }
        if (n == 0) return 0;
        free(c->pend);
        c->pend = NULL;
        c->pend_len = c->pend_off = 0;
    }
    char *p = realloc(c->pend, c->pend_len + n);
    if (!p) { drop(fd); return -1; }
    memcpy(p + c->pend_len, b, n);
    c->pend = p;
    c->pend_len += (uint32_t)n;
    return 0;
}

/* On EPOLLOUT: write what is pending. Returns -1 when the connection was dropped. */
static int flush_pending(int fd) {
    struct conn *c = &table[fd];
    while (c->pend_off < c->pend_len) {
        ssize_t w = send(fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 0;
            drop(fd);
            return -1;
        }
        c->pend_off += (uint32_t)w;
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_off = 0;
    return c->closing ? finish(fd) : 0;
}

/* Answer every complete head in d[0..n), scanning for the end of a head from `from`.
 * Returns the bytes used (complete heads), or -1 when the connection was dropped. */
static ssize_t answer(int fd, const char *d, size_t n, size_t from) {
    struct conn *c = &table[fd];
    size_t used = 0, out = 0;
    while (!c->closing) {
        const char *e = memmem(d + from, n - from, "\r\n\r\n", 4);
        if (!e) break;
        const char *h = d + used;
        size_t hl = (size_t)(e + 4 - h);
        const char *eol = memchr(h, '\n', hl);
        size_t ll = eol ? (size_t)(eol - h) : hl;
        int v10 = ll >= 8 && memmem(h, ll, "HTTP/1.0", 8) != NULL;
        int keep = v10 ? conn_token(h + ll, hl - ll, "keep-alive") && !conn_token(h + ll, hl - ll, "close")
                       : !conn_token(h + ll, hl - ll, "close");
        const char *a = !keep ? OK_CLOSE : v10 ? OK_KEEP10 : OK_KEEP;
        size_t al = !keep ? sizeof OK_CLOSE - 1 : v10 ? sizeof OK_KEEP10 - 1 : sizeof OK_KEEP - 1;
        if (out + al > sizeof batch) { /* only with a huge pipelined batch: write what we have */
            if (send_or_queue(fd, batch, out) < 0) return -1;
            out = 0;
        }
        memcpy(batch + out, a, al);
        out += al;
        if (!keep) c->closing = 1;
        used += hl;
        from = used;
    }
    if (out && send_or_queue(fd, batch, out) < 0) return -1; /* one write per read */
    return (ssize_t)used;
}

static void on_readable(int fd) {
    struct conn *c = &table[fd];
    for (;;) {
        if (c->pend_len - c->pend_off > MAX_PENDING) { c->paused = 1; return; } /* backpressure */
        ssize_t r = read(fd, rbuf, sizeof rbuf);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return; /* drained: epoll reports the next edge */
            drop(fd);
            return;
        }
        if (r == 0) { /* the peer is done sending: finish the answers, then close */
            c->closing = c->eof = 1;
            if (c->pend_len == c->pend_off) finish(fd);
            return;
        }
        if (c->closing) continue; /* input after a closing request is discarded */
        const char *d = rbuf;
        size_t n = (size_t)r, from = 0;
        if (c->head_len) { /* finish the head begun by an earlier read */
            char *p = realloc(c->head, c->head_len + n);
            if (!p) { drop(fd); return; }
            memcpy(p + c->head_len, rbuf, n);
            c->head = p;
            from = c->head_len > 3 ? c->head_len - 3 : 0;
            d = p;
            n += c->head_len;
        }
        ssize_t used = answer(fd, d, n, from);
        if (used < 0) return;
        size_t left = n - (size_t)used;
        if (c->closing) {
            free(c->head);
            c->head = NULL;
            c->head_len = 0;
            if (c->pend_len == c->pend_off && finish(fd) < 0) return;
            continue;
        }
        if (left > MAX_HEAD) { drop(fd); return; } /* a head this long is not a request */
        if (left == 0) {
            free(c->head);
            c->head = NULL;
        } else if (d == rbuf) {
            char *p = malloc(left);
            if (!p) { drop(fd); return; }
            memcpy(p, rbuf + used, left);
            c->head = p;
        } else if (used) {
            memmove(c->head, c->head + used, left);
        }
        c->head_len = (uint32_t)left;
    }
}

static void accept_all(void) {
    int one = 1;
    accept_blocked = 0;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) accept_blocked = 1; /* retry after a close */
            return;                                                     /* EAGAIN: queue empty */
        }
        if (fd >= table_len) { close(fd); continue; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { close(fd); continue; }
        table[fd].open = 1;
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 18081, one = 1;
    const char *addr = argc > 2 ? argv[2] : "127.0.0.1";
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    table_len = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
    table = calloc((size_t)table_len, sizeof *table); /* untouched pages cost nothing */
    if (!table) { perror("calloc"); return 1; }
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", addr); return 2; }
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.fd = lfd}, evs[EVENTS];
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
    fprintf(stderr, "c_epoll_http on %s:%d pid %d, room for %d descriptors\n", addr, port, (int)getpid(), table_len);

    for (;;) {
        int n = epoll_wait(epfd, evs, EVENTS, -1);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            if (fd == lfd) { accept_ready = 1; continue; } /* after the batch: no stale events */
            if (!table[fd].open) continue; /* dropped earlier in this batch */
            if (e & (EPOLLERR | EPOLLHUP)) { drop(fd); continue; }
            if (e & EPOLLOUT) {
                if (flush_pending(fd) < 0) continue;
                if (table[fd].paused && table[fd].pend_len == 0) { /* resume: no edge would come */
                    table[fd].paused = 0;
                    e |= EPOLLIN;
                }
            }
            if (e & (EPOLLIN | EPOLLRDHUP)) on_readable(fd);
        }
        if (accept_ready || (accept_blocked && closed_some)) accept_all(); /* or: descriptors were freed */
        accept_ready = closed_some = 0;
    }
}
