import EventLog
import Testing
import WatchDomain

/// ``SyncHint``: the two thresholds, the rate that closes a drift, and the cases that seek or wait.
@Suite("Drift hints")
struct SyncHintTests {
    static let at = Timestamp(microsecondsSince1970: 1_800_000_000_000_000)
    /// Playing since 10 s before `at` from 100 s: the party is at 110 s.
    static let playing = PlayerState(
        playing: true,
        videoTimeMillis: 100_000,
        since: Timestamp(microsecondsSince1970: at.microsecondsSince1970 - 10_000_000)
    )
    static let paused = PlayerState(
        playing: false,
        videoTimeMillis: 100_000,
        since: Timestamp(microsecondsSince1970: at.microsecondsSince1970 - 10_000_000)
    )

    func hint(_ reported: UInt64, buffering: Bool = false, state: PlayerState = playing, length: UInt64 = 3_600_000) -> SyncHint {
        SyncHint(reportedMillis: reported, buffering: buffering, state: state, at: Self.at, length: length)
    }

    @Test("within the tolerance, either side, nothing to do", arguments: [110_000, 110_080, 109_920] as [UInt64])
    func inStep(_ reported: UInt64) {
        let hint = hint(reported)
        #expect(hint.action == .none && hint.videoTimeMillis == 110_000 && hint.playbackRate == 1 && hint.durationMillis == 0)
        #expect(hint.driftMillis == Int64(reported) - 110_000)
    }

    @Test("just past the tolerance and up to the seek threshold, a rate that closes the drift in the window")
    func adjustRate() {
        let ahead = hint(110_500)
        #expect(ahead.action == .adjustRate && ahead.driftMillis == 500)
        #expect(abs(ahead.playbackRate - 0.95) < 1e-9 && ahead.durationMillis == 10_000)
        let behind = hint(109_919)
        #expect(behind.action == .adjustRate && behind.playbackRate > 1 && behind.durationMillis == 10_000)
        // The rate change is capped: a 2 s drift at 0.9 takes 20 s.
        let far = hint(112_000)
        #expect(far.action == .adjustRate && abs(far.playbackRate - 0.9) < 1e-9 && far.durationMillis == 20_000)
        // What the hint promises: at that rate for that long, the drift is gone.
        for hint in [ahead, behind, far] {
            let closed = Double(hint.durationMillis) * (1 - hint.playbackRate)
            #expect(abs(closed - Double(hint.driftMillis)) < 1)
        }
    }

    @Test("past the seek threshold, a seek to the party's position")
    func seek() {
        #expect(hint(112_001).action == .seek)
        #expect(hint(0).action == .seek && hint(0).videoTimeMillis == 110_000 && hint(0).driftMillis == -110_000)
    }

    @Test("paused, any drift past the tolerance is a seek (a rate moves nothing)")
    func pausedSeeks() {
        #expect(hint(100_500, state: Self.paused).action == .seek)
        #expect(hint(100_050, state: Self.paused).action == .none)
        #expect(hint(100_500, state: Self.paused).videoTimeMillis == 100_000)
    }

    @Test("a buffering player waits, whatever its drift")
    func buffering() {
        #expect(hint(0, buffering: true).action == .wait)
        #expect(hint(110_000, buffering: true).action == .wait)
    }

    @Test("at the film's end the party's position stays at its length")
    func filmEnd() {
        let hint = hint(105_000, length: 105_000)
        #expect(hint.videoTimeMillis == 105_000 && hint.action == .none)
    }
}
