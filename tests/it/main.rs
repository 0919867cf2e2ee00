//! One integration test binary for the `prisn` CLI. Each module drives the real binary
//! against real tools (uv, npm, the package index, the registry, the test bed).

mod common;

// script → lock → store → run (issue: build a script's environment)
mod lock;
mod run;
mod store;
mod store_races;

// script + lock → reproducible OCI image → registry / layout / bundle (issue 3)
mod image;
mod image_airgap;
mod image_bytecode;
mod image_common;
mod image_errors;
mod image_referrers;
mod image_registry;
mod image_sbom;

// prisn gc collects the image-build cache too, safely under concurrent builds
mod cache_gc;

// Debian bases from pinned packages: prisn base (issue 14)
mod base;

// releases: prisn rebase onto a patched base, one image or every deployed one (issue 15)
mod rebase;

// local mode: the prisn daemon, its workloads, isolation and recovery (issue 7)
mod local;
mod local_api;
mod local_bad_input;
mod local_cron;
mod local_idempotent;
mod local_limits;
mod local_new_user;
mod local_recovery;
mod local_release;
mod local_sandbox;
mod local_state_loss;

// remote mode: prisn server over TLS, tokens, namespaces, uploads by content (issue 11)
mod remote;
mod remote_airgap;
mod remote_attacks;
mod remote_logs;

// contexts: where commands act (use, list, remove)
mod context;

// kubernetes mode: deploy by digest, get/status/scale/logs/delete on the test bed (issue 6)
mod kube;
mod kube_client;
mod kube_common;
mod kube_errors;
mod kube_release;

// one vocabulary: a schedule in the grammar of its mode, --quiet while waiting (issue 10)
mod kube_quiet;
mod schedule_modes;

// no import cycle inside any crate (issue 10)
mod module_cycles;

// parsers of user input under fuzzing: the saved corpus, replayed on stable (issue 13)
mod fuzz_corpus;

// kubernetes mode on the test bed's real node: kubelet + containerd, the operator as a pod (issue 12)
mod node;
mod node_common;

// prisn ships itself: the operator image from prisn's own image code, the install (issue 16)
mod operator_image;
