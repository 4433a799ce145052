/* c_udp_echo.c - the C reference for the UDP benchmarks: the least a UDP echo server on one thread
 * can do, to see what the kernel costs per datagram without any framework.
 *
 * One thread, one UDP socket, blocking. Each turn takes up to BATCH (64) datagrams with one
 * recvmmsg (MSG_WAITFORONE: it waits for the first, then takes what is already queued) and sends
 * each back to its sender, unchanged, with sendmmsg. A sendmmsg that sends only part of the batch
 * is called again for the rest; a datagram the kernel refuses (EAGAIN, ENOBUFS, any other error)
 * is counted as dropped and skipped, never retried, never fatal. SO_RCVTIMEO (100 ms) wakes an idle
 * loop so that SIGTERM/SIGINT are seen within 100 ms even if one arrives just before recvmmsg
 * blocks; on either signal the counters are printed and the process exits 0.
 *
 *   gcc -O2 -Wall -Wextra -Werror -o c_udp_echo c_udp_echo.c
 *   c_udp_echo [-r] [-R BYTES] [-S BYTES] [ADDR=127.0.0.1 [PORT=18083]]
 *     ADDR   an IPv4 or IPv6 literal (127.0.0.1, ::1, 0.0.0.0, ::); PORT 0 takes a free port
 *     -r     SO_REUSEPORT (several processes on one port, the kernel spreads the senders)
 *     -R N   SO_RCVBUF = N bytes (the kernel doubles it and caps it at net.core.rmem_max)
 *     -S N   SO_SNDBUF = N bytes (capped at net.core.wmem_max)
 *
 * stdout, line by line:
 *   listening on 127.0.0.1:18083                 (once, after bind; the port is the real one)
 *   in_datagrams=N in_bytes=N out_datagrams=N out_bytes=N dropped=N eagain=N enobufs=N
 *     send_errors=N recv_errors=N truncated=N turns=N   (one line, on SIGTERM/SIGINT)
 * stderr: the buffer sizes the kernel granted, and the errno of the first error of each kind.
 * `dropped` = eagain + enobufs + send_errors: echoes not sent. Drops in the socket's receive
 * buffer are the kernel's: the `drops` column of /proc/net/udp (or udp6) for this port.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { BATCH = 64, DGRAM_MAX = 65536 };

static volatile sig_atomic_t stopping;
static char bufs[BATCH][DGRAM_MAX];
static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static struct sockaddr_storage peers[BATCH];

static struct {
    unsigned long long in_dgrams, in_bytes, out_dgrams, out_bytes;
    unsigned long long eagain, enobufs, send_errors, recv_errors, truncated, turns;
} count;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void usage(void) {
    fprintf(stderr, "usage: c_udp_echo [-r] [-R RCVBUF] [-S SNDBUF] [ADDR=127.0.0.1 [PORT=18083]]\n");
    exit(2);
}

/* A byte count from an option: a positive integer below 2^31, else usage. */
static int parse_size(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0 || v > 0x7fffffffL) usage();
    return (int)v;
}

/* ADDR (IPv4 or IPv6 literal) and PORT into sa; returns its length, 0 if ADDR is neither. */
static socklen_t make_addr(const char *addr, int port, struct sockaddr_storage *sa) {
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return sizeof *v4;
    }
    if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return sizeof *v6;
    }
    return 0;
}

/* "127.0.0.1:18083" or "[::1]:18083" of a bound socket into out. */
static void format_addr(const struct sockaddr_storage *sa, char *out, size_t n) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, ntohs(v4->sin_port));
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, ntohs(v6->sin6_port));
    }
}

/* The socket, bound and configured; exits 1 on failure. */
static int open_socket(const struct sockaddr_storage *sa, socklen_t len, int reuseport, int rcvbuf, int sndbuf) {
    int fd = socket(sa->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) { perror("socket"); exit(1); }
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) { perror("SO_REUSEPORT"); exit(1); }
    if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) { perror("SO_RCVBUF"); exit(1); }
    if (sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0) { perror("SO_SNDBUF"); exit(1); }
    struct timeval tick = {.tv_sec = 0, .tv_usec = 100000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) < 0) { perror("SO_RCVTIMEO"); exit(1); }
    if (bind(fd, (const struct sockaddr *)sa, len) < 0) { perror("bind"); exit(1); }
    return fd;
}

/* Point every message of the batch at its buffer and sender slot, ready for recvmmsg. */
static void arm_batch(void) {
    for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = DGRAM_MAX;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_name = &peers[i];
        msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
}

/* Report an errno once per kind (the counters say how often). */
static void note_once(const char *what, int err, unsigned long long seen) {
    if (seen == 1) fprintf(stderr, "c_udp_echo: first %s: %s\n", what, strerror(err));
}

/* Send the n received datagrams back to their senders. Each pass sends at least one message or
 * skips one that failed, so the loop ends within n passes (EINTR retried until a stop). */
static void echo_batch(int fd, int n) {
    for (int i = 0; i < n; i++) iovs[i].iov_len = msgs[i].msg_len; /* echo exactly what came */
    int done = 0;
    while (done < n) {
        int sent = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
        if (sent > 0) {
            for (int i = done; i < done + sent; i++) count.out_bytes += msgs[i].msg_len;
            count.out_dgrams += (unsigned)sent;
            done += sent;
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            if (stopping) return;
            continue;
        }
        int err = sent < 0 ? errno : EIO;
        if (err == EAGAIN || err == EWOULDBLOCK) note_once("EAGAIN on send", err, ++count.eagain);
        else if (err == ENOBUFS) note_once("ENOBUFS on send", err, ++count.enobufs);
        else note_once("send error", err, ++count.send_errors);
        done++; /* this echo is dropped; go on with the next */
    }
}

/* One turn: wait for datagrams, echo them. */
static void turn(int fd) {
    arm_batch();
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return; /* idle tick, signal */
        note_once("receive error", errno, ++count.recv_errors);
        return;
    }
    count.turns++;
    count.in_dgrams += (unsigned)n;
    for (int i = 0; i < n; i++) {
        count.in_bytes += msgs[i].msg_len;
        if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) count.truncated++;
    }
    echo_batch(fd, n);
}

int main(int argc, char **argv) {
    int reuseport = 0, rcvbuf = 0, sndbuf = 0, opt;
    while ((opt = getopt(argc, argv, "rR:S:")) != -1) {
        if (opt == 'r') reuseport = 1;
        else if (opt == 'R') rcvbuf = parse_size(optarg);
        else if (opt == 'S') sndbuf = parse_size(optarg);
        else usage();
    }
    if (argc - optind > 2) usage();
    const char *addr = optind < argc ? argv[optind] : "127.0.0.1";
    int port = optind + 1 < argc ? atoi(argv[optind + 1]) : 18083;
    if (port < 0 || port > 65535) usage();

    struct sockaddr_storage sa;
    socklen_t len = make_addr(addr, port, &sa);
    if (len == 0) { fprintf(stderr, "c_udp_echo: bad address %s (an IPv4 or IPv6 literal)\n", addr); return 2; }
    struct sigaction act = {.sa_handler = on_signal}; /* no SA_RESTART: recvmmsg returns EINTR */
    sigemptyset(&act.sa_mask);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    signal(SIGPIPE, SIG_IGN);

    int fd = open_socket(&sa, len, reuseport, rcvbuf, sndbuf);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    char name[INET6_ADDRSTRLEN + 16];
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) { perror("getsockname"); return 1; }
    format_addr(&bound, name, sizeof name);
    int got_rcv = 0, got_snd = 0;
    socklen_t il = sizeof got_rcv;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got_rcv, &il);
    il = sizeof got_snd;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got_snd, &il);
    fprintf(stderr, "c_udp_echo pid %d: SO_RCVBUF %d, SO_SNDBUF %d, SO_REUSEPORT %s, batch %d\n",
            (int)getpid(), got_rcv, got_snd, reuseport ? "on" : "off", BATCH);
    printf("listening on %s\n", name);
    fflush(stdout);

    while (!stopping) turn(fd);

    printf("in_datagrams=%llu in_bytes=%llu out_datagrams=%llu out_bytes=%llu dropped=%llu eagain=%llu "
           "enobufs=%llu send_errors=%llu recv_errors=%llu truncated=%llu turns=%llu\n",
           count.in_dgrams, count.in_bytes, count.out_dgrams, count.out_bytes,
           count.eagain + count.enobufs + count.send_errors, count.eagain, count.enobufs, count.send_errors,
           count.recv_errors, count.truncated, count.turns);
    fflush(stdout);
    close(fd);
    return 0;
}
