/* cloudstor-init: PID 1 of the managed plugin. Starts cloudstord, then
 * cloudstor-shim once the daemon's socket answers, passes SIGTERM and SIGINT on
 * to both, reaps every child (PID 1 inherits orphans), and exits when either of
 * the two ends: with its status, so the engine sees the plugin die and says so.
 * Arguments: none; everything comes from the environment Docker sets from
 * config.json and `docker plugin set`. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig) { stopping = sig; }

static pid_t start(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        execv(argv[0], argv);
        fprintf(stderr, "cloudstor-init: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid < 0) fprintf(stderr, "cloudstor-init: fork: %s\n", strerror(errno));
    return pid;
}

static int answers(const char *path) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) return 0;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

static int status_of(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void) {
    const char *socket_path = getenv("CLOUDSTOR_SOCKET");
    if (!socket_path || !*socket_path) socket_path = "/run/cloudstor/cloudstor.sock";
    struct sigaction action = {.sa_handler = on_signal};
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    char *daemon_argv[] = {"/usr/bin/cloudstord", NULL};
    char *shim_argv[] = {"/usr/bin/cloudstor-shim", NULL};
    pid_t daemon = start(daemon_argv), shim = -1;
    if (daemon < 0) return 1;
    int result = 0, leaving = 0;
    struct timespec tick = {0, 50 * 1000 * 1000};
    for (;;) {
        if (stopping) {
            leaving = 1;
            if (shim > 0) kill(shim, SIGTERM);
            if (daemon > 0) kill(daemon, SIGTERM);
            stopping = 0;
        }
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == daemon || pid == shim) {
            fprintf(stderr, "cloudstor-init: %s exited (%d)\n", pid == daemon ? "cloudstord" : "cloudstor-shim", status_of(status));
            if (!result) result = status_of(status);
            if (pid == daemon) daemon = -1; else shim = -1;
            leaving = 1;
            /* One without the other serves nothing: stop the other and leave. */
            if (daemon > 0) kill(daemon, SIGTERM);
            if (shim > 0) kill(shim, SIGTERM);
            if (daemon < 0 && shim < 0) return result;
            continue;
        }
        if (pid > 0) continue; /* an orphan reaped */
        if (!leaving && shim < 0 && daemon > 0 && answers(socket_path)) {
            shim = start(shim_argv);
            if (shim < 0) kill(daemon, SIGTERM);
        }
        nanosleep(&tick, NULL);
    }
}
