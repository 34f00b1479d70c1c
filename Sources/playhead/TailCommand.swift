import ArgumentParser
import EventLog
import Foundation

/// `playhead tail`: prints the log as NDJSON from a position, optionally following it.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print events as NDJSON, one per line, from a position on.",
        discussion: "The line format is described in Docs/events.md. With --follow it keeps printing new events until interrupted."
    )

    @OptionGroup var store: StoreOptions

    @Option(help: "The first position to print (1 is the first event).")
    var from: UInt64 = 1

    @Option(help: "Stop after this many events.")
    var limit: Int?

    @Flag(help: "Keep waiting for new events.")
    var follow = false

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let log = try store.openLog(.readOnly)
        let output = FileHandle.standardOutput
        var printed = 0
        let limit = self.limit ?? .max
        if follow {
            for try await event in log.subscribe(from: from, chunkSize: 1024) {
                output.write(EventLine.encode(event))
                printed += 1
                if printed >= limit { break }
            }
        } else {
            var next = max(from, 1)
            while printed < limit {
                let events = try log.read(from: next, limit: min(4096, limit - printed))
                guard let last = events.last else { break }
                var chunk = Data()
                for event in events { chunk.append(EventLine.encode(event)) }
                output.write(chunk)
                printed += events.count
                next = last.position + 1
            }
        }
    }
}

/// The NDJSON line of one stored event (see Docs/events.md).
enum EventLine {
    static func encode(_ event: RecordedEvent) -> Data {
        var object: [String: Any] = [
            "position": event.position,
            "type": event.type,
            "stream": event.stream,
            "streamVersion": event.streamVersion,
            "recordedAt": ISO8601Micros.format(event.recordedAt),
            "eventId": event.eventID.uuidString.lowercased(),
            "payloadBase64": Data(event.payload).base64EncodedString(),
        ]
        if let occurredAt = event.occurredAt { object["occurredAt"] = ISO8601Micros.format(occurredAt) }
        if let correlation = event.correlationID { object["correlationId"] = correlation.uuidString.lowercased() }
        if let causation = event.causationID { object["causationId"] = causation.uuidString.lowercased() }
        if !event.actor.isEmpty { object["actor"] = event.actor }
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        data.append(0x0A)
        return data
    }
}

/// ISO 8601 in UTC with exactly six fractional digits, so that no microsecond is lost.
enum ISO8601Micros {
    static func format(_ timestamp: Timestamp) -> String {
        let micros = timestamp.microsecondsSince1970
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec),
            Int(fraction)
        )
    }
}
