/*
 * send_floor: the kernel's floor under a WebSocket fan-out on this machine.
 *
 * Opens N loopback TCP connections, forks a receiver that epoll-waits on
 * the client ends and reads everything (as N clients would), then times a
 * bare loop of one send() of a 64-byte frame per connection: no
 * libwebsockets, no framing, no poll. A gateway that writes one message to
 * each of N sockets cannot finish sooner than this on one thread.
 *
 *   send_floor [N=5000] [ROUNDS=5]
 * prints one line per round: N sends in X ms (Y µs each).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double floor_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The receiver: reads until it has seen rounds messages per connection. */
static void floor_receive(const int *c, int n, int rounds, int ready_fd)
{
    int ep = epoll_create1(0);
    long got = 0;
    char buf[4096];
    struct epoll_event ev[256];

    for (int i = 0; i < n; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.fd = c[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i], &e);
    }
    if (write(ready_fd, "r", 1) != 1)
        _exit(1);
    while (got < (long)n * rounds) {
        int k = epoll_wait(ep, ev, 256, 5000);
        if (k <= 0)
            break;
        for (int j = 0; j < k; j++) {
            ssize_t r = read(ev[j].data.fd, buf, sizeof buf);
            if (r > 0)
                got += r / 64;
        }
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    struct rlimit rl = {65536, 65536};
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int one = 1, ready[2], rc = 1;
    int *c = NULL, *s = NULL, l = -1;
    char msg[64], x;
    pid_t kid;

    if (n < 1 || n > 30000 || rounds < 1) {
        fprintf(stderr, "usage: send_floor [N 1..30000] [ROUNDS]\n");
        return 2;
    }
    setrlimit(RLIMIT_NOFILE, &rl);
    c = calloc((size_t)n, sizeof *c);
    s = calloc((size_t)n, sizeof *s);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = socket(AF_INET, SOCK_STREAM, 0);
    if (c == NULL || s == NULL || l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(l, 8192) != 0 || getsockname(l, (struct sockaddr *)&a, &al) != 0 ||
        pipe(ready) != 0) {
        perror("send_floor: setup");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (c[i] < 0 || connect(c[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            (s[i] = accept(l, NULL, NULL)) < 0) {
            perror("send_floor: connect");
            goto out;
        }
        setsockopt(s[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    kid = fork();
    if (kid == 0)
        floor_receive(c, n, rounds, ready[1]);
    if (kid < 0 || read(ready[0], &x, 1) != 1) {
        perror("send_floor: receiver");
        goto out;
    }
    memset(msg, 'x', sizeof msg);
    for (int r = 0; r < rounds; r++) {
        double t0, t1;
        usleep(300000);
        t0 = floor_ms();
        for (int i = 0; i < n; i++)
            if (send(s[i], msg, sizeof msg, 0) != (ssize_t)sizeof msg)
                perror("send_floor: send");
        t1 = floor_ms();
        printf("%d sends in %.1f ms (%.1f us each)\n", n, t1 - t0, (t1 - t0) * 1000 / n);
        fflush(stdout);
    }
    waitpid(kid, NULL, 0);
    rc = 0;
out:
    free(c);
    free(s);
    return rc;
}
