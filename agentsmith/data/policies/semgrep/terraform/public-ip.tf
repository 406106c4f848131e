resource "aws_instance" "worker" {
  ami = "ami-123"
  # ruleid: tf-instance-public-ip
  associate_public_ip_address = true
}

resource "aws_instance" "private" {
  ami = "ami-123"
  # ok: tf-instance-public-ip
  associate_public_ip_address = false
}

resource "aws_subnet" "public" {
  vpc_id = "vpc-1"
  # ruleid: tf-instance-public-ip
  map_public_ip_on_launch = true
}

resource "google_compute_instance" "vm" {
  name = "vm"
  network_interface {
    network = "default"
    # ruleid: tf-instance-public-ip
    access_config {
    }
  }
}

resource "google_compute_instance" "internal" {
  name = "internal"
  network_interface {
    # ok: tf-instance-public-ip
    network = "default"
  }
}
