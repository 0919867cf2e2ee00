use axum::response::IntoResponse;
use axum::response::sse::Sse;

use super::*;
use crate::logs::FileId;

/// `events` as the daemon writes them, read back by the client's parser, fed in pieces of
/// `step` bytes (a proxy may cut a stream anywhere).
fn round_trip(events: Vec<Event>, step: usize) -> Vec<Received> {
    let stream = futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>));
    let body = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(axum::body::to_bytes(
            Sse::new(stream).into_response().into_body(),
            usize::MAX,
        ))
        .unwrap();
    let mut p = Parser::default();
    body.chunks(step).flat_map(|c| p.push(c)).collect()
}

fn at(offset: u64) -> Position {
    Position {
        file: FileId { ino: 7, born: 9 },
        offset,
    }
}

#[test]
fn output_comes_back_byte_for_byte_whatever_it_holds_and_however_it_is_cut() {
    let chunks: Vec<&[u8]> = vec![
        b"one\ntwo\n",
        b"",
        b" leading space\n\n\nblank lines\n",
        b"no newline",
        b"progress 10%\rprogress 20%\r\n",
        b"\xff\xfe not utf-8\n",
        b"data: id: event: : looks like fields\n",
        "ünïcödé ✓\n".as_bytes(),
    ];
    for step in [1, 2, 7, 4096] {
        let events = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| output(c, at(i as u64)))
            .chain([notice("position lost"), end(EndReason::Deleted)])
            .collect();
        let got = round_trip(events, step);
        assert_eq!(got.len(), chunks.len() + 2, "step {step}: {got:?}");
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(
                got[i].output().as_deref(),
                Some(*c),
                "step {step}, chunk {i}"
            );
            assert_eq!(got[i].id, Some(at(i as u64).to_string()));
        }
        let n = chunks.len();
        assert_eq!(
            (got[n].event.as_str(), got[n].data.as_slice()),
            (NOTICE, &b"position lost"[..])
        );
        assert_eq!(got[n].output(), None);
        assert_eq!(
            (got[n + 1].event.as_str(), got[n + 1].data.as_slice()),
            (END, &b"deleted"[..])
        );
    }
}

#[test]
fn heartbeats_and_other_comments_are_no_events() {
    let mut p = Parser::default();
    assert!(p.push(b": heartbeat\n\n:\n\nretry: 10\n\n").is_empty());
    let got = p.push(b"id: 1-2-3\r\ndata: x\r\rdata:y\n\n");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].id.as_deref(), Some("1-2-3"));
    assert_eq!(got[0].output().as_deref(), Some(&b"x"[..]));
    assert_eq!(got[1].output().as_deref(), Some(&b"y"[..]));
}
