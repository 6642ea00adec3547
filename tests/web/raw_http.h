// tests/web/raw_http.h: raw HTTP/1.1 over loopback TCP for the web tests, for requests an
// HTTP library would not send (a foreign Host, a huge Content-Length without its body,
// hundreds of open event streams). Test-only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace melodl::web::testing {

// One client connection to 127.0.0.1:port (fd < 0 when it could not connect).
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool send(const std::string& text) {
    std::size_t at = 0;
    while (fd_ >= 0 && at < text.size()) {
      const ssize_t n = ::send(fd_, text.data() + at, text.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return fd_ >= 0;
  }
  // Reads until `marker` was received (true), the server closed, or `seconds` passed.
  bool read_until(const std::string& marker, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (fd_ >= 0 && received_.find(marker) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[8192];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return received_.find(marker) != std::string::npos;
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return fd_ >= 0;
  }
  // Reads until the server closes the connection or `seconds` passed.
  const std::string& read_all(double seconds) {
    read_until(std::string(1, '\0') + "never", seconds);
    return received_;
  }
  const std::string& received() const { return received_; }
  // The status code of the response received so far (0 when no status line yet).
  int status() const;
  std::string body() const {
    const auto at = received_.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : received_.substr(at + 4);
  }

 private:
  int fd_;
  std::string received_;
};

// A request's text: METHOD PATH, the Host header (none when `host` is empty), more header
// lines ("Name: value\r\n" each) and the body with its Content-Length (none when `body` is
// empty and `extra` has no body headers of its own).
inline std::string request_text(const std::string& method, const std::string& path,
                                const std::string& host, const std::string& extra = {},
                                const std::string& body = {}) {
  std::string t = method + " " + path + " HTTP/1.1\r\n";
  if (!host.empty()) t += "Host: " + host + "\r\n";
  t += extra;
  if (!body.empty()) t += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return t + "\r\n" + body;
}

// Sends one request on a new connection and reads the whole answer (the server closes).
inline std::string exchange(int port, const std::string& text, double seconds = 5) {
  RawConnection c(port);
  c.send(text);
  return c.read_all(seconds);
}

inline int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

inline int RawConnection::status() const { return status_of(received_); }

}  // namespace melodl::web::testing
