/*
 * The pod sandbox process of the test bed's real node (containerd's
 * `sandbox_image`): it holds the pod's namespaces open and does nothing else.
 * The public pause image cannot be pulled here, so `testbed.sh` builds this
 * with `gcc -static` and imports it into containerd. Same job as Kubernetes'
 * build/pause/linux/pause.c: exit 0 on SIGINT/SIGTERM, reap children (it is
 * PID 1 of the pod when the pod shares its PID namespace).
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {.sa_handler = on_stop};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    return 1;
  }
  for (;;) {
    pause();
  }
}
