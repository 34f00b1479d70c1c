/// How an environment's map grows when it is full, the one rule for the log and the views:
/// it doubles, by at least ``minimumStep`` and at most ``maximumStep`` at once.
package struct MapGrowthPolicy: Sendable, Hashable {
    /// The most the map grows by at once.
    package var maximumStep: Int
    /// The least the map grows by at once.
    package var minimumStep: Int

    /// Doubling, by at most `maximumStep` (8 GiB by default) and at least 1 MiB at once.
    package init(maximumStep: Int = 8 << 30, minimumStep: Int = 1 << 20) {
        self.maximumStep = maximumStep
        self.minimumStep = minimumStep
    }

    /// The map size after growing a map of `current` bytes once.
    package func size(after current: Int) -> Int {
        let step = max(min(current, maximumStep), minimumStep)
        let (next, overflow) = current.addingReportingOverflow(step)
        return overflow ? Int.max : next
    }
}
