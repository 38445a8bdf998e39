//! Each protocol profile at its own bounds: every `always` property holds, every `sometimes`
//! twin is witnessed, and the number of unique states is pinned (a change in it means the
//! profile's semantics or its state encoding changed). The basic profile is pinned in
//! tests/default_config.rs.

use raft_model::check::{check, CheckOptions};
use raft_model::{Protocol, RaftModel};

fn assert_profile(protocol: Protocol, pinned: usize) {
    let model = RaftModel {
        bounds: protocol.bounds(),
        params: protocol.params(),
        bug: None,
    };
    let report = check(&model, &CheckOptions::default());
    for p in &report.properties {
        assert!(
            p.status == "holds" || p.status == "witnessed",
            "{}: {}: {} {:?}",
            protocol.name(),
            p.name,
            p.status,
            p.counterexample
        );
    }
    println!(
        "{}: {} unique states in {:.1} s",
        protocol.name(),
        report.unique_states,
        report.seconds
    );
    assert_eq!(report.unique_states, pinned, "{}", protocol.name());
}

macro_rules! profile_tests {
    ($($test:ident: $protocol:ident => $states:expr,)*) => {
        $(
            #[test]
            fn $test() {
                assert_profile(Protocol::$protocol, $states);
            }
        )*

        #[test]
        fn every_profile_is_pinned() {
            let pinned = [Protocol::Basic, $(Protocol::$protocol,)*];
            for p in Protocol::ALL {
                assert!(pinned.contains(&p), "{} has no pinned count", p.name());
            }
        }
    };
}

profile_tests! {
    pre_vote: PreVote => 67_675,
    check_quorum: CheckQuorum => 845_668,
    fast_backtrack: FastBacktrack => 942_982,
    pipelining: Pipelining => 1_920_955,
    transfer: Transfer => 916_483,
    persistence: Persistence => 1_035_245,
    production: Production => 1_239_475,
    snapshots: Snapshots => 833_779,
    membership: Membership => 950_625,
}
