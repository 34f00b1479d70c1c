import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog

@Suite("The single writer", .timeLimit(.minutes(5)))
struct WriterTests {
    @Test("concurrent callers are served by one durable commit and get contiguous, distinct positions")
    func groupCommit() async throws {
        let commits = CommitCounter()
        let configuration = configured { configuration in configuration.commitObserver = commits.observer }
        try await withLog(configuration) { log, _ in
            log.queue?.pause()
            let callers = 200
            let positions = Task {
                try await withThrowingTaskGroup(of: LogPosition.self) { group in
                    for caller in 0..<callers {
                        group.addTask {
                            try await log.append(AppendRequest(events: [event("caller-\(caller % 7)", "\(caller)")])).positions.lowerBound
                        }
                    }
                    return try await group.reduce(into: [LogPosition]()) { $0.append($1) }
                }
            }
            let allQueued = try await eventually { log.queue?.depth.queued == callers }
            #expect(allQueued)
            log.queue?.resume()
            let sorted = try await positions.value.sorted()
            let sound = try log.verify().isSound
            #expect(sorted == Array(1...LogPosition(callers)))
            #expect(commits.appendCommits.map(\.events) == [callers])
            #expect(sound)
        }
    }

    @Test("many tasks appending freely share commits")
    func freeRunningGroupCommit() async throws {
        let commits = CommitCounter()
        let configuration = configured { configuration in configuration.commitObserver = commits.observer }
        try await withLog(configuration) { log, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<32 {
                    group.addTask {
                        for index in 0..<25 {
                            _ = try await log.append(AppendRequest(events: [event("c-\(caller)", "\(index)")]))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try log.head == 800)
            #expect(commits.appendCommits.reduce(0) { $0 + $1.events } == 800)
            #expect(commits.appendCommits.count < 800)
            for caller in 0..<32 { #expect(try log.streamInfo("c-\(caller)").version == 25) }
        }
    }

    @Test("a batch is bounded by its event count")
    func batchBounds() async throws {
        let commits = CommitCounter()
        let configuration = configured {
            $0.commitObserver = commits.observer
            $0.maxBatchEvents = 10
        }
        try await withLog(configuration) { log, _ in
            log.queue?.pause()
            let all = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<12 {
                        group.addTask { _ = try await log.append(AppendRequest(events: [event("a", "\(caller)"), event("b", "\(caller)")])) }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(try await eventually { log.queue?.depth.queued == 12 })
            log.queue?.resume()
            try await all.value
            #expect(commits.appendCommits.map(\.events) == [10, 10, 4])
        }
    }

    @Test("a full queue refuses callers with an overload error when configured to")
    func overloadRejects() async throws {
        let configuration = configured {
            $0.queueCapacity = 4
            $0.overflowPolicy = .reject
        }
        try await withLog(configuration) { log, _ in
            log.queue?.pause()
            let queued = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<4 {
                        group.addTask { _ = try await log.append(AppendRequest(events: [event("q", "\(caller)")])) }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(try await eventually { log.queue?.depth.queued == 4 })
            do {
                _ = try await log.append(AppendRequest(events: [event("q", "one too many")]))
                Issue.record("a full queue accepted a submission")
            } catch let error as EventLogError {
                #expect(error.code == .overloaded)
            }
            log.queue?.resume()
            try await queued.value
            #expect(try log.head == 4)
        }
    }

    @Test("a full queue makes callers wait, then serves them all")
    func overloadWaits() async throws {
        let configuration = configured {
            $0.queueCapacity = 2
            $0.overflowPolicy = .wait
        }
        try await withLog(configuration) { log, _ in
            log.queue?.pause()
            let all = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<5 {
                        group.addTask { _ = try await log.append(AppendRequest(events: [event("w", "\(caller)")])) }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(try await eventually { log.queue.map { $0.depth.queued == 2 && $0.depth.waitingForRoom == 3 } ?? false })
            log.queue?.resume()
            try await all.value
            #expect(try log.head == 5)
        }
    }

    @Test("closing answers everything queued, then refuses appends")
    func closeDrains() async throws {
        try await withTemporaryDirectory { directory in
            let log = try LMDBEventLog(directory: directory + "/log")
            log.queue?.pause()
            let queued = Task { try await log.append(AppendRequest(events: [event("z", "queued before close")])) }
            #expect(try await eventually { log.queue?.depth.queued == 1 })
            await log.close()
            #expect(try await queued.value.positions == 1...1)
            do {
                _ = try await log.append(AppendRequest(events: [event("z", "after close")]))
                Issue.record("a closed log accepted an append")
            } catch let error as EventLogError {
                #expect(error.code == .closed)
            }
        }
    }
}

@Suite("Subscriptions", .timeLimit(.minutes(5)))
struct SubscriptionTests {
    @Test("a subscription catches up, then follows live appends with no gap and no duplicate")
    func catchUpToLive() async throws {
        try await withLog { log, _ in
            for batch in 0..<10 {
                _ = try await log.append(AppendRequest(events: (0..<50).map { event("pre-\($0 % 5)", "\(batch)-\($0)") }))
            }
            let writers = 6
            let perWriter = (0..<25).reduce(0) { $0 + ($1 % 3 == 0 ? 1 : 10) }
            let total = 500 + writers * perWriter
            let subscribers = (0..<3).map { index in
                Task {
                    var positions: [LogPosition] = []
                    for try await recorded in log.subscribe(from: 1, chunkSize: 7 + index * 100) {
                        positions.append(recorded.position)
                        if positions.count == total { break }
                    }
                    return positions
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<25 {
                            let count = index % 3 == 0 ? 1 : 10
                            _ = try await log.append(AppendRequest(events: (0..<count).map { event("live-\(writer)", "\(index)-\($0)") }))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try log.head == LogPosition(total))
            for subscriber in subscribers {
                #expect(try await subscriber.value == Array(1...LogPosition(total)))
            }
        }
    }

    @Test("a subscription from the middle starts there; a cancelled one ends")
    func fromMiddleAndCancel() async throws {
        try await withLog { log, _ in
            _ = try await log.append(AppendRequest(events: (1...10).map { event("m", "\($0)") }))
            var iterator = log.subscribe(from: 8, chunkSize: 3).makeAsyncIterator()
            #expect(try await iterator.next()?.position == 8)
            #expect(try await iterator.next()?.position == 9)
            #expect(try await iterator.next()?.position == 10)

            let waiting = Task {
                var iterator = log.subscribe(from: 11, chunkSize: 3).makeAsyncIterator()
                return try await iterator.next()
            }
            try await Task.sleep(for: .milliseconds(20))
            waiting.cancel()
            #expect(try await waiting.value == nil)
        }
    }

    @Test("closing the log ends waiting subscriptions")
    func closeEndsSubscriptions() async throws {
        try await withTemporaryDirectory { directory in
            let log = try LMDBEventLog(directory: directory + "/log")
            let waiting = Task {
                var count = 0
                for try await _ in log.subscribe(from: 1, chunkSize: 10) { count += 1 }
                return count
            }
            _ = try await log.append(AppendRequest(events: [event("c", "1")]))
            try await Task.sleep(for: .milliseconds(20))
            await log.close()
            #expect(try await waiting.value == 1)
        }
    }
}

@Suite("Read-only logs", .timeLimit(.minutes(5)))
struct ReadOnlyLogTests {
    @Test("closing a read-only log ends its subscriptions")
    func closeEndsPollingSubscription() async throws {
        try await withTemporaryDirectory { directory in
            do {
                let writer = try LMDBEventLog(directory: directory + "/log")
                _ = try await writer.append(AppendRequest(events: [event("r", "1")]))
                await writer.close()
            }
            let reader = try LMDBEventLog(directory: directory + "/log", mode: .readOnly)
            let subscription = Task {
                var seen = 0
                for try await _ in reader.subscribe(from: 1, chunkSize: 4) { seen += 1 }
                return seen
            }
            try await Task.sleep(for: .milliseconds(30))
            await reader.close()
            #expect(try await subscription.value == 1)
        }
    }
}
