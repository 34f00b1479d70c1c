import Charts
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import Projections
import WatchDomain

/// `/analytics/…`: the video analytics (issue 17), for administrators. Each answer is JSON,
/// or one SVG chart with `?format=svg` (not the top videos, a ranking).
///
/// Days are UTC days, or the days of `tz` (``QueryTimeZone``): `startDate` and `endDate`
/// (`YYYY-MM-DD`, or ISO 8601 times, taken as the days they fall on there) name the first and
/// last day, at most ``DayRange/maxDays`` of them.
/// Concurrent viewers take times and answer per minute, at most ``maxConcurrentMinutes``.
struct VideoAnalyticsRoutes {
    let queries: VideoAnalyticsQueries
    /// The longest concurrent-viewers answer: a week of minutes.
    static let maxConcurrentMinutes: Int64 = 7 * 1_440
    /// The most top videos one answer lists.
    static let maxTopVideos = 100

    func add(to router: Router<PlayheadRequestContext>) {
        let analytics = router.group("analytics")
        analytics.get("videos/:videoId") { request, context in
            _ = try context.requireAdmin()
            let body = VideoAnalyticsBody.Summary(try queries.summary(of: try Self.videoId(context), over: try Self.days(request)))
            return try Self.answer(body, chart: body.chart, request, context)
        }
        analytics.get("videos/:videoId/retention") { request, context in
            _ = try context.requireAdmin()
            let videoId = try Self.videoId(context)
            guard let curve = try queries.retention(of: videoId, over: try Self.days(request)) else { throw Self.unregistered(videoId) }
            let body = VideoAnalyticsBody.Retention(curve)
            return try Self.answer(body, chart: body.chart, request, context)
        }
        analytics.get("videos/:videoId/seeks") { request, context in
            _ = try context.requireAdmin()
            let videoId = try Self.videoId(context)
            guard let heatmap = try queries.seeks(of: videoId, over: try Self.days(request)) else { throw Self.unregistered(videoId) }
            let body = VideoAnalyticsBody.Seeks(heatmap)
            return try Self.answer(body, chart: body.chart, request, context)
        }
        analytics.get("videos/:videoId/concurrent-viewers") { request, context in
            _ = try context.requireAdmin()
            return try concurrent(of: try Self.videoId(context), request, context)
        }
        analytics.get("concurrent-viewers") { request, context in
            _ = try context.requireAdmin()
            return try concurrent(of: nil, request, context)
        }
        analytics.get("top-videos") { request, context in
            _ = try context.requireAdmin()
            let query = request.uri.queryParameters
            let orderText = query.get("by") ?? TopVideos.Order.views.rawValue
            guard let order = TopVideos.Order(rawValue: orderText) else { throw Problem.badField("by", "by must be views or watch_time") }
            var limit = 10
            if let text = query.get("limit") {
                guard let value = Int(text), (1...Self.maxTopVideos).contains(value) else {
                    throw Problem.badField("limit", "limit must be a whole number from 1 to \(Self.maxTopVideos)")
                }
                limit = value
            }
            guard query.get("format") ?? "json" == "json" else { throw Problem.badField("format", "format must be json") }
            return VideoAnalyticsBody.Top(try queries.topVideos(over: try Self.days(request), by: order, limit: limit))
        }
    }

    private func concurrent(of videoId: String?, _ request: Request, _ context: PlayheadRequestContext) throws -> Response {
        let range = try DateRange(query: request, maxDays: Self.maxConcurrentMinutes / 1_440)
        let viewers = try queries.concurrentViewers(of: videoId, from: range.start, to: range.end)
        let body = VideoAnalyticsBody.Concurrent(viewers, from: range.start, to: range.end)
        return try Self.answer(body, chart: body.chart, request, context)
    }

    /// JSON, or the chart with `?format=svg`.
    static func answer(_ body: some ResponseEncodable, chart: SVGChart, _ request: Request, _ context: PlayheadRequestContext) throws -> Response {
        let format = request.uri.queryParameters.get("format") ?? "json"
        guard format == "json" || format == "svg" else { throw Problem.badField("format", "format must be json or svg") }
        guard format == "svg" else { return try body.response(from: request, context: context) }
        var headers: HTTPFields = [.contentType: "image/svg+xml; charset=utf-8"]
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: chart.render())))
    }

    static func videoId(_ context: PlayheadRequestContext) throws -> String {
        try VideoID(context.pathParameter("videoId")).text
    }

    /// The days the request's `startDate` and `endDate` fall on, in `tz` (UTC by default).
    static func days(_ request: Request) throws -> DayRange {
        let query = request.uri.queryParameters
        var zone = QueryTimeZone.utc
        if let name = query.get("tz"), !name.isEmpty {
            guard let named = QueryTimeZone(name) else { throw Problem.badField("tz", QueryTimeZone.expected) }
            zone = named
        }
        // Checks both texts (400 naming the field) and their order; the length is checked in
        // the zone's days, below.
        let range = try DateRange(query: request, maxDays: 4_000_000)
        do {
            return try zone.days(startText: query.get("startDate") ?? "", start: range.start, endText: query.get("endDate") ?? "", end: range.end)
        } catch {
            throw Problem.badField(error.code == .offQuarterHour ? "tz" : "endDate", error.description)
        }
    }

    static func unregistered(_ videoId: String) -> Problem {
        Problem(.notFound, "video \(videoId) is not registered: its length is unknown (PUT /videos/\(videoId))")
    }
}
