#pragma once

#include "http/server/body.h"

namespace pixelmill::http {

// How a body crosses Pistache's Router, which carries nothing but the
// request's head: the front end installs the body for the dispatch, and
// RouteTable's wrapper takes it from there and hands it to the route as an
// argument. Nothing outside http/server/ includes this.

// The body of the request being dispatched on this thread; empty if none.
RequestBody& handedOffBody();

// Installs `body` as handedOffBody() for the scope.
class BodyHandOff {
public:
    explicit BodyHandOff(RequestBody* body);
    ~BodyHandOff();
    BodyHandOff(const BodyHandOff&) = delete;
    BodyHandOff& operator=(const BodyHandOff&) = delete;

private:
    RequestBody* previous_;
};

}  // namespace pixelmill::http
