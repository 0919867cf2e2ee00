// Command testbed-cri talks to the real node's containerd over the CRI API, the
// way kubelet does (k8s.io/cri-client, from the same module graph):
//
//	testbed-cri ENDPOINT ps      one line per pod sandbox and container
//	testbed-cri ENDPOINT sweep   stop and remove every pod sandbox
//
// `sweep` is what `testbed.sh down` runs before it stops containerd: stopping a
// sandbox through CRI runs the CNI DEL (veth, IP lease, netns mount) and kills
// its containers, so nothing of a pod outlives the test bed, even when kubelet
// died first. Debian's `ctr` cannot do this: it knows nothing of CNI.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
)

func main() {
	if len(os.Args) != 3 || (os.Args[2] != "ps" && os.Args[2] != "sweep") {
		fmt.Fprintln(os.Stderr, "usage: testbed-cri unix:///path/containerd.sock ps|sweep")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := remote.NewRemoteRuntimeService(ctx, os.Args[1], 10*time.Second, nil, false)
	if err != nil {
		fail("connect to %s: %v", os.Args[1], err)
	}
	if os.Args[2] == "ps" {
		ps(ctx, rs)
	} else {
		sweep(ctx, rs)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testbed-cri: "+format+"\n", args...)
	os.Exit(1)
}

func ps(ctx context.Context, rs internalapi.RuntimeService) {
	sandboxes, err := rs.ListPodSandbox(ctx, nil)
	if err != nil {
		fail("list pod sandboxes: %v", err)
	}
	containers, err := rs.ListContainers(ctx, nil)
	if err != nil {
		fail("list containers: %v", err)
	}
	for _, s := range sandboxes {
		m := s.GetMetadata()
		fmt.Printf("pod       %.13s %-8s %s/%s\n", s.GetId(), shortState(s.GetState().String()), m.GetNamespace(), m.GetName())
		for _, c := range containers {
			if c.GetPodSandboxId() == s.GetId() {
				fmt.Printf("container %.13s %-8s   %s (attempt %d)\n", c.GetId(), shortState(c.GetState().String()), c.GetMetadata().GetName(), c.GetMetadata().GetAttempt())
			}
		}
	}
}

func shortState(s string) string {
	for _, p := range []string{"SANDBOX_", "CONTAINER_"} {
		if len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

func sweep(ctx context.Context, rs internalapi.RuntimeService) {
	sandboxes, err := rs.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{})
	if err != nil {
		fail("list pod sandboxes: %v", err)
	}
	failed := 0
	for _, s := range sandboxes {
		if err := rs.StopPodSandbox(ctx, s.GetId()); err != nil {
			fmt.Fprintf(os.Stderr, "testbed-cri: stop sandbox %s: %v\n", s.GetId(), err)
			failed++
			continue
		}
		if err := rs.RemovePodSandbox(ctx, s.GetId()); err != nil {
			fmt.Fprintf(os.Stderr, "testbed-cri: remove sandbox %s: %v\n", s.GetId(), err)
			failed++
		}
	}
	fmt.Printf("removed %d of %d pod sandboxes\n", len(sandboxes)-failed, len(sandboxes))
	if failed > 0 {
		os.Exit(1)
	}
}
