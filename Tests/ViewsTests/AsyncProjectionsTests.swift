import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog
@testable import Views

@Suite("Asynchronous projections", .timeLimit(.minutes(5)))
struct AsyncProjectionsTests {
    @Test("they fold behind the writer: the log commits without them, a catch-up brings them to the head")
    func foldBehind() async throws {
        try await withDirectory { directory in
            let counts = EventCounts()
            let async = try AsyncProjections(directory: directory + "/views/async", projectors: [counts])
            let log = try openLog(directory, nil)
            for index in 0..<5 { _ = try await log.append(AppendRequest(events: [event("seen", "s\(index % 2)")])) }
            #expect(counts.applied.count == 0)
            #expect(try async.lag(behind: try log.head) == 5)
            let read = try log.withReader { try async.catchUp($0) }
            #expect(read == 5)
            #expect(try async.lag(behind: try log.head) == 0)
            #expect(try async.read("counts") { try EventCounts.count("seen", in: $0) } == 5)
            // Nothing new: nothing read.
            #expect(try log.withReader { try async.catchUp($0) } == 0)
            await log.close()
        }
    }

    @Test("after a reopen they continue from their own checkpoint, each event folded once")
    func continueFromCheckpoint() async throws {
        try await withDirectory { directory in
            let log = try openLog(directory, nil)
            for _ in 0..<3 { _ = try await log.append(AppendRequest(events: [event("seen", "a")])) }
            do {
                let async = try AsyncProjections(directory: directory + "/views/async", projectors: [EventCounts()])
                try log.withReader { _ = try async.catchUp($0) }
                #expect(try async.appliedPosition() == 3)
            }
            for _ in 0..<2 { _ = try await log.append(AppendRequest(events: [event("seen", "a")])) }
            let counts = EventCounts()
            let reopened = try AsyncProjections(directory: directory + "/views/async", projectors: [counts])
            #expect(try reopened.lag(behind: try log.head) == 2)
            #expect(try log.withReader { try reopened.catchUp($0) } == 2)
            #expect(counts.applied.count == 2)
            #expect(try reopened.read("counts") { try EventCounts.count("seen", in: $0) } == 5)
            await log.close()
        }
    }

    @Test("views rebuilt elsewhere are compared key by key, and a difference is named")
    func differences() async throws {
        try await withDirectory { directory in
            let log = try openLog(directory, nil)
            for index in 0..<4 { _ = try await log.append(AppendRequest(events: [event("seen", "s\(index)")])) }
            let live = try AsyncProjections(directory: directory + "/live", projectors: [EventCounts()])
            try log.withReader { _ = try live.catchUp($0) }
            try log.withReader { _ = try InlineProjections.build(directory: directory + "/rebuilt", projectors: [EventCounts()], from: $0) }
            #expect(try live.differences(from: directory + "/rebuilt").differences.isEmpty)
            _ = try await log.append(AppendRequest(events: [event("seen", "late")]))
            try log.withReader { _ = try live.catchUp($0) }
            #expect(try !live.differences(from: directory + "/rebuilt").differences.isEmpty)
            await log.close()
        }
    }
}

@Suite("Asynchronous projections without projectors")
struct NoAsyncProjectionsTests {
    @Test("with no asynchronous projector, nothing lags")
    func nothingLags() async throws {
        try await withDirectory { directory in
            let async = try AsyncProjections(directory: directory + "/views/async", projectors: [])
            #expect(try async.lag(behind: 12) == 0)
        }
    }
}
