import EventLog
import Testing
import WatchDomain

/// ``ViewWatch``: one view's watched stretches, retention points, watch time, seeks, plays
/// that count and completions, on crafted sessions with worked-out answers (issue 17).
@Suite("A view's watch, folded from its player events")
struct ViewWatchTests {
    /// A 100-second video completing at 90 %: point i is at i seconds.
    func view() -> ViewWatch { ViewWatch(lengthMillis: 100_000, threshold: 0.9) }

    let midnight: Int64 = 1_796_083_200_000_000  // 2026-12-01T00:00:00Z

    func event(_ kind: PlayerEventKind, at seconds: Double, video: Double) -> PlayerEvent {
        PlayerEvent(
            event: kind,
            eventTime: Timestamp(microsecondsSince1970: midnight + Int64(seconds * 1_000_000)),
            videoTimeMillis: UInt64(video * 1_000)
        )
    }

    @Test("a view that never plays watches nothing, however it seeks and pauses")
    func neverPlays() {
        var watch = view()
        _ = watch.apply(event(.seek, at: 0, video: 50))
        _ = watch.apply(event(.pause, at: 5, video: 50))
        _ = watch.apply(event(.buffering, at: 9, video: 50))
        #expect(watch.watchedMillis == 0 && watch.watched.count == 0 && !watch.counted && !watch.completed)
    }

    @Test("play, then pause 40 s later: points 0 to 39, 40 s, a play that counts, not complete")
    func playAndPause() {
        var watch = view()
        _ = watch.apply(event(.play, at: 0, video: 0))
        let change = watch.apply(event(.pause, at: 40, video: 40))
        #expect(change.watchedMillis == 40_000 && change.becameCounted && !change.becameCompleted)
        #expect(watch.watched.points == Array(0...39) && watch.rewatched.count == 0)
    }

    @Test("a seek back: what was watched before it counts, from the play's position for the time that passed; watching it again is a rewatch")
    func seekBack() {
        var watch = view()
        _ = watch.apply(event(.play, at: 0, video: 0))
        let seek = watch.apply(event(.seek, at: 30, video: 10))
        #expect(seek.seek?.from == 30_000 && seek.seek?.to == 10_000 && seek.watchedMillis == 30_000)
        _ = watch.apply(event(.pause, at: 50, video: 30))
        #expect(watch.watchedMillis == 50_000)
        #expect(watch.watched.points == Array(0...29))
        #expect(watch.rewatched.points == Array(10...29))
    }

    @Test("a seek forward: the stretch jumped over is not watched")
    func seekForward() {
        var watch = view()
        _ = watch.apply(event(.play, at: 0, video: 0))
        _ = watch.apply(event(.seek, at: 10, video: 60))
        _ = watch.apply(event(.pause, at: 20, video: 70))
        #expect(watch.watched.points == Array(0...9) + Array(60...69))
        #expect(watch.watchedMillis == 20_000 && !watch.counted)
    }

    @Test("a pause across midnight counts the time on both sides: 30 s, a play that counts")
    func pauseAcrossMidnight() {
        var watch = view()
        _ = watch.apply(event(.play, at: -10, video: 0))
        let change = watch.apply(event(.pause, at: 20, video: 30))
        #expect(change.watchedMillis == 30_000 && change.becameCounted)
        #expect(watch.watched.points == Array(0...29))
    }

    @Test("playing past the end stops at the end; ended completes; reaching the threshold completes without it")
    func endsAndCompletions() {
        var ended = view()
        _ = ended.apply(event(.play, at: 0, video: 95))
        let change = ended.apply(event(.ended, at: 10, video: 100))
        #expect(change.watchedMillis == 5_000 && change.becameCompleted && ended.watched.points == Array(95...99))

        var threshold = view()
        _ = threshold.apply(event(.play, at: 0, video: 0))
        #expect(threshold.apply(event(.pause, at: 89.999, video: 89.999)).becameCompleted == false)
        _ = threshold.apply(event(.play, at: 100, video: 89.999))
        #expect(threshold.apply(event(.pause, at: 100.001, video: 90)).becameCompleted)
    }

    @Test("an event stamped before the play it ends counts no time")
    func clockGoingBack() {
        var watch = view()
        _ = watch.apply(event(.play, at: 50, video: 0))
        let change = watch.apply(event(.pause, at: 40, video: 0))
        #expect(change.watchedMillis == 0 && watch.watched.count == 0 && !watch.playing)
    }
}
